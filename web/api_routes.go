package web

import "github.com/labstack/echo/v4"

// apiRoutes registers the JSON API under /api/v1, in one list. apiAuth
// (the group's middleware) authenticates every route and refuses every
// state change to auditors; apiRequireAdmin guards reads only admins may
// make. docs/openapi.json must describe every route here (TestOpenAPIRoutes).
// A literal ":" in a path is written "\\:" (echo would take it for a
// parameter).
func (s *Server) apiRoutes(g *echo.Group) {
	g.GET("/me", s.apiMe)

	g.GET("/users", s.apiListUsers)
	g.POST("/users", s.apiCreateUser)
	s.AllowUpload(g.POST("/users\\:bulk", s.apiBulkUsers), apiBulkBodyLimit, false)
	g.GET("/users/:id", s.apiGetUser)
	g.PATCH("/users/:id", s.apiUpdateUser)
	g.DELETE("/users/:id", s.apiDeleteUser)

	g.GET("/devices", s.apiListDevices)
	g.POST("/devices", s.apiCreateDevice)
	s.AllowUpload(g.POST("/devices\\:bulk", s.apiBulkDevices), apiBulkBodyLimit, false)
	g.GET("/devices/:id", s.apiGetDevice)
	g.PATCH("/devices/:id", s.apiUpdateDevice)
	g.DELETE("/devices/:id", s.apiDeleteDevice)

	g.POST("/users/:id/refresh", s.apiRefreshUser)
	g.GET("/users/:id/why", s.apiWhy)
	g.POST("/devices/reconcile", s.apiPreviewReconcile)

	g.GET("/runs", s.apiListRuns)
	g.POST("/runs/preview", s.apiStartPreview)
	g.GET("/runs/:id", s.apiGetRun)
	g.GET("/runs/:id/items", s.apiListRunItems)
	g.POST("/runs/:id/apply", s.apiApplyRun)
	g.POST("/runs/:id/cancel", s.apiCancelRun)
	g.GET("/runs/:id/report.csv", s.downloadRunCSV)
	g.GET("/runs/:id/report.json", s.downloadRunJSON)

	// /service-groups and /profiles: list, get, create, update, delete,
	// add and remove members (api_groups.go).
	s.apiGroupRoutes(g)

	g.GET("/attributes", s.apiListAttributes)
	g.GET("/settings", s.apiGetSettings)
	g.PATCH("/settings", s.apiUpdateSettings)
	g.GET("/sources", s.apiListSources)
	g.GET("/sources/:id", s.apiGetSource)
	g.GET("/mappings", s.apiListMappings)

	g.GET("/products", s.apiListProducts)
	g.POST("/products/sync", s.apiSyncProducts)
	g.GET("/products/:id", s.apiGetProduct)
	g.GET("/products/:id/deliveries", s.apiListDeliveries)

	g.GET("/accounts", s.apiListAccounts, s.apiRequireAdmin)

	g.GET("/audit", s.apiListAudit)
	g.GET("/tokens", s.apiListTokens)
	g.DELETE("/tokens/:id", s.apiRevokeToken)
}
