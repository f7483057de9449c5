package web

// routes registers every route of the console, in one list. Public routes
// come first; everything in the signed-in group requires a session, and
// requireLogin refuses state-changing methods to auditors. Add your area's
// routes under its comment; the route-walk test (routes_test.go) checks
// each new route automatically.
func (s *Server) routes() {
	e := s.echo
	// limitBody runs before anything reads a body (checkCSRF parses forms);
	// routes that take more than DefaultBodyLimit say so with AllowUpload.
	e.Use(s.observe, s.recoverPanic, s.securityHeaders, s.limitBody, s.loadSession, s.checkCSRF)

	// Public: operations, static files, sign-in and first-admin setup.
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.metricsHandler())
	e.GET("/static/*", s.staticHandler())
	e.GET("/login", s.showLoginPage)
	e.POST("/login", s.login)
	e.GET("/login/mfa", s.showMFALoginPage)
	e.POST("/login/mfa", s.loginMFA)
	e.GET("/setup", s.showSetupPage)
	e.POST("/setup", s.setup)
	// Signing out needs no role, only the CSRF token (an auditor may sign out).
	e.POST("/logout", s.logout)
	// A one-time password-reset link made by an admin (accounts.go).
	e.GET("/reset-password/:token", s.showResetPasswordPage)
	e.POST("/reset-password/:token", s.resetPassword)

	// My account: every role may change its own password, sessions and MFA.
	acct := e.Group("/account", s.requireSignedIn)
	acct.GET("", s.showMyAccountPage)
	acct.POST("/password", s.changeMyPassword)
	acct.POST("/sessions/end-all", s.endMySessions)
	acct.POST("/sessions/:key/end", s.endMySession)
	acct.GET("/mfa", s.showMFASetupPage)
	acct.POST("/mfa", s.confirmMFA)
	acct.POST("/mfa/disable", s.disableMFA)

	// Self service: every signed-in account, auditors included, manages
	// its own API tokens (admins see and revoke everyone's).
	me := e.Group("", s.requireSignedIn)
	me.GET("/tokens", s.showTokensPage)
	me.POST("/tokens", s.createToken)
	me.POST("/tokens/:id/revoke", s.revokeToken)

	// Signed in (admins and auditors; auditors read only).
	a := e.Group("", s.requireLogin)
	a.GET("/", s.showDashboard)

	// Users, devices, service groups, profiles, attributes, settings,
	// audit (object pages).
	a.GET("/users", s.showUsersPage)
	a.GET("/users/new", s.showCreateUserPage, s.requireAdmin)
	a.POST("/users", s.createUser)
	a.GET("/users/:id", s.showUserPage)
	a.POST("/users/:id", s.updateUser)
	a.POST("/users/:id/delete", s.deleteUser)
	a.POST("/users/:id/service-group", s.setUserServiceGroup)
	a.POST("/users/:id/profiles", s.addUserProfile)
	a.POST("/users/:id/profiles/:pid/delete", s.removeUserProfile)
	a.POST("/users/:id/devices", s.assignUserDevice)
	a.GET("/devices", s.showDevicesPage)
	a.GET("/devices/new", s.showCreateDevicePage, s.requireAdmin)
	a.POST("/devices", s.createDevice)
	a.GET("/devices/:id", s.showDevicePage)
	a.POST("/devices/:id", s.updateDevice)
	a.POST("/devices/:id/delete", s.deleteDevice)
	a.POST("/devices/:id/assign", s.assignDevice)
	a.POST("/devices/:id/unassign", s.unassignDevice)
	for _, ops := range []groupOps{s.serviceGroupOps(), s.profileOps()} {
		p := ops.kind.Path
		a.GET(p, s.showGroupsPage(ops))
		a.GET(p+"/new", s.showCreateGroupPage(ops), s.requireAdmin)
		a.POST(p, s.createGroup(ops))
		a.GET(p+"/:id", s.showGroupPage(ops))
		a.POST(p+"/:id", s.updateGroup(ops))
		a.POST(p+"/:id/delete", s.deleteGroup(ops))
		a.POST(p+"/:id/members", s.addGroupMember(ops))
		a.POST(p+"/:id/members/:uid/delete", s.removeGroupMember(ops))
	}
	a.GET("/attributes", s.showAttributesPage)
	a.POST("/attributes", s.createAttribute)
	a.GET("/attributes/:id", s.showAttributePage)
	a.POST("/attributes/:id", s.updateAttribute)
	a.POST("/attributes/:id/delete", s.deleteAttribute)
	a.GET("/settings", s.showSettingsPage)
	a.POST("/settings", s.updateSettings)
	a.POST("/settings/toggle", s.toggleSetting)
	a.GET("/settings/alerts", s.showAlertsPage)
	a.POST("/settings/alerts", s.updateAlerts)
	a.POST("/settings/alerts/test", s.testAlerts)
	a.GET("/audit", s.showAuditPage)

	// Console accounts (admins only).
	a.GET("/accounts", s.showAccountsPage, s.requireAdmin)
	a.POST("/accounts", s.createAccount)
	a.POST("/accounts/settings", s.updateSignInSettings)
	a.GET("/accounts/:id", s.showAccountPage, s.requireAdmin)
	a.POST("/accounts/:id/disable", s.disableAccount)
	a.POST("/accounts/:id/enable", s.enableAccount)
	a.POST("/accounts/:id/delete", s.deleteAccount)
	a.POST("/accounts/:id/role", s.setAccountRole)
	a.POST("/accounts/:id/reset-password", s.resetAccountPassword)
	a.POST("/accounts/:id/sessions/end", s.endAccountSessions)
	a.POST("/accounts/:id/mfa/reset", s.resetAccountMFA)

	// Sources and mappings (directory).
	a.GET("/sources", s.showSourcesPage)
	a.GET("/sources/new", s.showNewSourcePage, s.requireAdmin)
	a.POST("/sources", s.createSource)
	a.POST("/sources/test", s.testSourceForm)
	a.GET("/sources/:id", s.showSourcePage)
	a.POST("/sources/:id", s.updateSource)
	a.POST("/sources/:id/delete", s.deleteSource)
	a.POST("/sources/:id/test", s.testSavedSource)

	// Sync, runs, refresh one user (sync engine).
	a.GET("/mappings", s.showMappingsPage)
	a.GET("/mappings/search-groups", s.searchDirectoryGroups)
	a.POST("/mappings/groups", s.createGroupMapping)
	a.POST("/mappings/groups/:id/delete", s.deleteGroupMapping)
	a.POST("/mappings/provisioning", s.createProvisioningMapping)
	a.POST("/mappings/provisioning/:id/delete", s.deleteProvisioningMapping)
	a.GET("/sync", s.showSyncPage)
	a.POST("/sync/preview", s.previewSync)
	a.POST("/sync/apply", s.applySync)
	a.GET("/runs", s.showRunsPage)
	a.GET("/runs/:id", s.showRunPage)
	a.GET("/runs/:id/progress", s.showRunProgress)
	a.POST("/runs/:id/cancel", s.cancelRun)
	a.GET("/runs/:id/report.csv", s.downloadRunCSV)
	a.GET("/runs/:id/report.json", s.downloadRunJSON)
	a.GET("/runs/:id/log.txt", s.downloadRunLog)
	a.POST("/users/:id/refresh", s.refreshUser)
	a.GET("/users/:id/why", s.showUserWhy)
	a.GET("/devices/reconcile", s.showReconcilePage)
	a.POST("/devices/reconcile", s.previewReconcile)
	a.POST("/devices/reconcile/apply", s.applyReconcile)

	// Scheduled refresh: the dashboard card (polled while a run runs) and
	// "Run now" (admins).
	a.GET("/schedule/panel", s.showSchedulePanel)
	a.POST("/schedule/run", s.runScheduleNow)

	// Products.
	a.GET("/products", s.showProductsPage)
	a.GET("/products/new", s.showNewProductPage, s.requireAdmin)
	a.POST("/products", s.createProduct)
	a.POST("/products/sync-all", s.syncAllProducts)
	a.POST("/products/sync-users", s.syncUsers)
	a.GET("/products/:id", s.showProductPage)
	a.GET("/products/:id/edit", s.showEditProductPage, s.requireAdmin)
	a.GET("/products/:id/progress", s.productProgress)
	a.POST("/products/:id", s.updateProduct)
	a.POST("/products/:id/delete", s.deleteProduct)
	a.POST("/products/:id/test", s.testProduct)
	a.POST("/products/:id/retry", s.retryProduct)
	a.POST("/products/:id/attention", s.resolveAttention)
	a.POST("/products/:id/sync-all", s.syncProduct)

	// CSV import (admins) and streamed CSV exports (csv_import.go, csv_export.go).
	a.GET("/import", s.showImportPage)
	a.GET("/import/template/:kind", s.downloadImportTemplate)
	s.AllowUpload(a.POST("/import/preview", s.previewImport), importMaxBytes+1<<20, true)
	a.POST("/import/apply", s.applyImport)
	a.GET("/users/export.csv", s.exportUsers)
	a.GET("/devices/export.csv", s.exportDevices)
	a.GET("/memberships/export.csv", s.exportMemberships)
	a.GET("/audit/export.csv", s.exportAudit)

	// JSON API (web/api_*.go): token or session; admins change, auditors
	// read. Its OpenAPI document is public; its reference is a console page.
	e.GET("/api/openapi.json", s.serveOpenAPI)
	a.GET("/api-docs", s.showAPIReference)
	s.apiRoutes(e.Group("/api/v1", s.apiAuth))
}
