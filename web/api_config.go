package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
)

// ---- Settings -------------------------------------------------------------

// apiSettings is the System settings page in the API.
type apiSettings struct {
	SyncEnterpriseGroupsToDevices bool                    `json:"sync_enterprise_groups_to_devices"`
	SyncDevicesToUsers            bool                    `json:"sync_devices_to_users"`
	AutoProfileSync               bool                    `json:"auto_profile_sync"`
	RefreshIntervalHours          int                     `json:"refresh_interval_hours"`
	RefreshStartTime              string                  `json:"refresh_start_time"`
	TimeZone                      string                  `json:"time_zone"`
	ProvisioningEnabled           bool                    `json:"provisioning_enabled"`
	DeprovisioningEnabled         bool                    `json:"deprovisioning_enabled"`
	DeprovisionAction             model.DeprovisionAction `json:"deprovision_action"`
	ServiceGroupMembership        model.MembershipMode    `json:"service_group_membership"`
	DeleteThresholdCount          int                     `json:"delete_threshold_count"`
	DeleteThresholdPercent        int                     `json:"delete_threshold_percent"`
	ShrinkThresholdPercent        int                     `json:"shrink_threshold_percent"`
	AutoProductSync               bool                    `json:"auto_product_sync"`
	RunRetentionDays              int                     `json:"run_retention_days"`
}

// apiSettingsInput is PATCH /settings: absent fields keep their value.
type apiSettingsInput struct {
	SyncEnterpriseGroupsToDevices *bool                    `json:"sync_enterprise_groups_to_devices,omitempty"`
	SyncDevicesToUsers            *bool                    `json:"sync_devices_to_users,omitempty"`
	AutoProfileSync               *bool                    `json:"auto_profile_sync,omitempty"`
	RefreshIntervalHours          *int                     `json:"refresh_interval_hours,omitempty"`
	RefreshStartTime              *string                  `json:"refresh_start_time,omitempty"`
	TimeZone                      *string                  `json:"time_zone,omitempty"`
	ProvisioningEnabled           *bool                    `json:"provisioning_enabled,omitempty"`
	DeprovisioningEnabled         *bool                    `json:"deprovisioning_enabled,omitempty"`
	DeprovisionAction             *model.DeprovisionAction `json:"deprovision_action,omitempty"`
	ServiceGroupMembership        *model.MembershipMode    `json:"service_group_membership,omitempty"`
	DeleteThresholdCount          *int                     `json:"delete_threshold_count,omitempty"`
	DeleteThresholdPercent        *int                     `json:"delete_threshold_percent,omitempty"`
	ShrinkThresholdPercent        *int                     `json:"shrink_threshold_percent,omitempty"`
	AutoProductSync               *bool                    `json:"auto_product_sync,omitempty"`
	RunRetentionDays              *int                     `json:"run_retention_days,omitempty"`
}

func toAPISettings(st model.Settings) apiSettings {
	return apiSettings{st.SyncEnterpriseGroupsToDevices, st.SyncDevicesToUsers, st.AutoProfileSync, st.RefreshIntervalHours,
		st.RefreshStartTime, st.TimeZone, st.ProvisioningEnabled, st.DeprovisioningEnabled, st.DeprovisionAction,
		st.ServiceGroupMembership, st.DeleteThresholdCount, st.DeleteThresholdPercent, st.ShrinkThresholdPercent,
		st.AutoProductSync, st.RunRetentionDays}
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func (in *apiSettingsInput) apply(st *model.Settings) {
	set(&st.SyncEnterpriseGroupsToDevices, in.SyncEnterpriseGroupsToDevices)
	set(&st.SyncDevicesToUsers, in.SyncDevicesToUsers)
	set(&st.AutoProfileSync, in.AutoProfileSync)
	set(&st.RefreshIntervalHours, in.RefreshIntervalHours)
	set(&st.RefreshStartTime, in.RefreshStartTime)
	set(&st.TimeZone, in.TimeZone)
	set(&st.ProvisioningEnabled, in.ProvisioningEnabled)
	set(&st.DeprovisioningEnabled, in.DeprovisioningEnabled)
	set(&st.DeprovisionAction, in.DeprovisionAction)
	set(&st.ServiceGroupMembership, in.ServiceGroupMembership)
	set(&st.DeleteThresholdCount, in.DeleteThresholdCount)
	set(&st.DeleteThresholdPercent, in.DeleteThresholdPercent)
	set(&st.ShrinkThresholdPercent, in.ShrinkThresholdPercent)
	set(&st.AutoProductSync, in.AutoProductSync)
	set(&st.RunRetentionDays, in.RunRetentionDays)
}

// apiGetSettings is GET /api/v1/settings.
func (s *Server) apiGetSettings(c echo.Context) error {
	st, err := s.store.GetSettings(c.Request().Context())
	if err != nil {
		return err
	}
	return writeResource(c, http.StatusOK, toAPISettings(st))
}

// apiUpdateSettings is PATCH /api/v1/settings: the same store call (with
// its validation and audited diff) as the settings page.
func (s *Server) apiUpdateSettings(c echo.Context) error {
	var in apiSettingsInput
	if err := decodeJSON(c, apiBodyLimit, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	st, err := s.store.GetSettings(ctx)
	if err != nil {
		return err
	}
	if err := checkIfMatch(c, etagOf(toAPISettings(st))); err != nil {
		return err
	}
	in.apply(&st)
	if in.RefreshStartTime != nil {
		st.RefreshStartTime = strings.TrimSpace(st.RefreshStartTime)
	}
	if err := s.store.UpdateSettings(ctx, st); err != nil {
		return err
	}
	return s.apiGetSettings(c)
}

// ---- Attributes -----------------------------------------------------------

type apiAttribute struct {
	ID              int64  `json:"id"`
	Key             string `json:"key"`
	Name            string `json:"name"`
	EnterpriseGroup bool   `json:"enterprise_group"`
	Position        int    `json:"position"`
}

// apiListAttributes is GET /api/v1/attributes: the enterprise attributes.
func (s *Server) apiListAttributes(c echo.Context) error {
	defs, err := s.store.ListAttributes(c.Request().Context())
	if err != nil {
		return err
	}
	out := apiList[apiAttribute]{Items: make([]apiAttribute, len(defs))}
	for i, d := range defs {
		out.Items[i] = apiAttribute{d.ID, d.Key, d.Name, d.EnterpriseGroup, d.Position}
	}
	return c.JSON(http.StatusOK, out)
}

// ---- Directory sources and mappings ---------------------------------------

// apiSource is a directory source. The bind password is write-only: only
// whether one is stored is shown.
type apiSource struct {
	ID              int64             `json:"id"`
	Name            string            `json:"name"`
	Kind            model.SourceKind  `json:"kind"`
	URLs            []string          `json:"urls"`
	StartTLS        bool              `json:"start_tls"`
	BindDN          string            `json:"bind_dn"`
	HasBindPassword bool              `json:"has_bind_password"`
	UserBaseDN      string            `json:"user_base_dn"`
	UserFilter      string            `json:"user_filter"`
	GroupBaseDN     string            `json:"group_base_dn"`
	GroupFilter     string            `json:"group_filter"`
	MemberAttr      string            `json:"member_attr"`
	PageSize        int               `json:"page_size"`
	TimeoutSeconds  int               `json:"timeout_seconds"`
	Enabled         bool              `json:"enabled"`
	LastTestAt      *time.Time        `json:"last_test_at"`
	LastTestError   string            `json:"last_test_error,omitempty"`
	Attributes      map[string]string `json:"attributes"`
}

func toAPISource(src *model.Source) apiSource {
	out := apiSource{ID: src.ID, Name: src.Name, Kind: src.Kind, URLs: src.URLs, StartTLS: src.StartTLS, BindDN: src.BindDN,
		HasBindPassword: src.BindPassword != "", UserBaseDN: src.UserBaseDN, UserFilter: src.UserFilter,
		GroupBaseDN: src.GroupBaseDN, GroupFilter: src.GroupFilter, MemberAttr: src.MemberAttr, PageSize: src.PageSize,
		TimeoutSeconds: int(src.Timeout / time.Second), Enabled: src.Enabled, LastTestError: src.LastTestError,
		Attributes: attributeMapJSON(src.Attributes)}
	if out.URLs == nil {
		out.URLs = []string{}
	}
	if !src.LastTestAt.IsZero() {
		t := src.LastTestAt
		out.LastTestAt = &t
	}
	return out
}

// apiListSources is GET /api/v1/sources (readable by auditors, as the
// console's sources page).
func (s *Server) apiListSources(c echo.Context) error {
	srcs, err := s.store.ListSources(c.Request().Context())
	if err != nil {
		return err
	}
	out := apiList[apiSource]{Items: make([]apiSource, len(srcs))}
	for i := range srcs {
		out.Items[i] = toAPISource(&srcs[i])
	}
	return c.JSON(http.StatusOK, out)
}

// apiGetSource is GET /api/v1/sources/{id}.
func (s *Server) apiGetSource(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	src, err := s.store.GetSource(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return writeResource(c, http.StatusOK, toAPISource(src))
}

type apiGroupMapping struct {
	ID               int64  `json:"id"`
	SourceID         int64  `json:"source_id"`
	GroupDN          string `json:"group_dn"`
	ServiceGroupID   int64  `json:"service_group_id"`
	ServiceGroupName string `json:"service_group_name"`
	Nested           bool   `json:"nested"`
	Force            bool   `json:"force"`
	Priority         int    `json:"priority"`
}

type apiProvisioningMapping struct {
	ID          int64             `json:"id"`
	SourceID    int64             `json:"source_id"`
	GroupDN     string            `json:"group_dn"`
	AccountType model.AccountType `json:"account_type"`
	Nested      bool              `json:"nested"`
	Priority    int               `json:"priority"`
}

type apiMappings struct {
	Groups       []apiGroupMapping        `json:"groups"`
	Provisioning []apiProvisioningMapping `json:"provisioning"`
}

// apiListMappings is GET /api/v1/mappings: group and provisioning mappings.
func (s *Server) apiListMappings(c echo.Context) error {
	ctx := c.Request().Context()
	gms, err := s.store.ListGroupMappings(ctx)
	if err != nil {
		return err
	}
	pms, err := s.store.ListProvisioningMappings(ctx)
	if err != nil {
		return err
	}
	out := apiMappings{Groups: make([]apiGroupMapping, len(gms)), Provisioning: make([]apiProvisioningMapping, len(pms))}
	for i, m := range gms {
		out.Groups[i] = apiGroupMapping{m.ID, m.SourceID, m.GroupDN, m.ServiceGroupID, m.ServiceGroupName, m.Nested, m.Force, m.Priority}
	}
	for i, m := range pms {
		out.Provisioning[i] = apiProvisioningMapping{m.ID, m.SourceID, m.GroupDN, m.AccountType, m.Nested, m.Priority}
	}
	return c.JSON(http.StatusOK, out)
}

// ---- Products ---------------------------------------------------------------

// apiProduct is a product; its secret (bearer token or HMAC key) is never
// part of it.
type apiProduct struct {
	ID              int64             `json:"id"`
	Name            string            `json:"name"`
	Kind            model.ProductKind `json:"kind"`
	BaseURL         string            `json:"base_url"`
	HasSecret       bool              `json:"has_secret"`
	AllUsers        bool              `json:"all_users"`
	ServiceGroupIDs []int64           `json:"service_group_ids"`
	Enabled         bool              `json:"enabled"`
	Pairs           int               `json:"pairs"`
	Pending         int               `json:"pending"`
	Failed          int               `json:"failed"`
	Delivered       int               `json:"delivered"`
}

func (s *Server) toAPIProduct(c echo.Context, p *model.Product) (apiProduct, error) {
	cnt, err := s.store.ProductCounts(c.Request().Context(), p.ID)
	if err != nil {
		return apiProduct{}, err
	}
	out := apiProduct{ID: p.ID, Name: p.Name, Kind: p.Kind, BaseURL: p.BaseURL, HasSecret: p.Secret != "", AllUsers: p.AllUsers,
		ServiceGroupIDs: p.ServiceGroupIDs, Enabled: p.Enabled, Pairs: cnt.Pairs, Pending: cnt.Pending, Failed: cnt.Failed, Delivered: cnt.Delivered}
	if out.ServiceGroupIDs == nil {
		out.ServiceGroupIDs = []int64{}
	}
	return out, nil
}

// apiListProducts is GET /api/v1/products, with delivery counts.
func (s *Server) apiListProducts(c echo.Context) error {
	ps, err := s.store.ListProducts(c.Request().Context())
	if err != nil {
		return err
	}
	out := apiList[apiProduct]{Items: make([]apiProduct, len(ps))}
	for i := range ps {
		if out.Items[i], err = s.toAPIProduct(c, &ps[i]); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, out)
}

// apiGetProduct is GET /api/v1/products/{id}.
func (s *Server) apiGetProduct(c echo.Context) error {
	p, err := s.loadProduct(c)
	if err != nil {
		return err
	}
	out, err := s.toAPIProduct(c, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

type apiDelivery struct {
	ID        int64     `json:"id"`
	UserID    int64     `json:"user_id"`
	Username  string    `json:"username"`
	Method    string    `json:"method"`
	URL       string    `json:"url"`
	Status    int       `json:"status"`
	Error     string    `json:"error,omitempty"`
	LatencyMS int       `json:"latency_ms"`
	At        time.Time `json:"at"`
}

// apiListDeliveries is GET /api/v1/products/{id}/deliveries: the delivery
// log, newest first.
func (s *Server) apiListDeliveries(c echo.Context) error {
	p, err := s.loadProduct(c)
	if err != nil {
		return err
	}
	page, limit, err := offsetCursor(c)
	if err != nil {
		return err
	}
	ds, total, err := s.store.ListDeliveries(c.Request().Context(), p.ID, model.ListQuery{Page: page, PerPage: limit})
	if err != nil {
		return err
	}
	out := apiList[apiDelivery]{Items: make([]apiDelivery, len(ds)), NextCursor: nextPage(page, limit, total)}
	for i, d := range ds {
		out.Items[i] = apiDelivery{d.ID, d.UserID, d.Username, d.Method, d.URL, d.Status, d.Error, d.LatencyMS, d.At}
	}
	return c.JSON(http.StatusOK, out)
}

type apiProductSyncInput struct {
	// ProductIDs: the products (none: every enabled product).
	ProductIDs []int64 `json:"product_ids,omitempty"`
	// UserIDs: the users to sync (none: every user, "Sync all users").
	UserIDs []int64 `json:"user_ids,omitempty"`
}

type apiQueued struct {
	Queued int `json:"queued"`
}

// apiSyncProducts is POST /api/v1/products/sync: "Sync all users to
// product(s)" or "Sync selected users", the console's store calls.
func (s *Server) apiSyncProducts(c echo.Context) error {
	var in apiProductSyncInput
	if err := decodeJSON(c, apiBodyLimit, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	var n int
	var err error
	if len(in.UserIDs) == 0 {
		n, err = s.store.MarkAllPending(ctx, in.ProductIDs)
	} else {
		n, err = s.store.MarkUsersPending(ctx, in.ProductIDs, in.UserIDs)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, apiQueued{Queued: n})
}

// ---- Accounts -------------------------------------------------------------

type apiAccountRow struct {
	ID          int64               `json:"id"`
	Username    string              `json:"username"`
	Role        model.Role          `json:"role"`
	Status      model.AccountStatus `json:"status"`
	MFAEnabled  bool                `json:"mfa_enabled"`
	CreatedAt   time.Time           `json:"created_at"`
	LastLoginAt *time.Time          `json:"last_login_at"`
}

// apiListAccounts is GET /api/v1/accounts (admins): the console accounts.
func (s *Server) apiListAccounts(c echo.Context) error {
	as, err := s.store.ListAdmins(c.Request().Context())
	if err != nil {
		return err
	}
	out := apiList[apiAccountRow]{Items: make([]apiAccountRow, len(as))}
	for i, a := range as {
		out.Items[i] = apiAccountRow{ID: a.ID, Username: a.Username, Role: a.Role, Status: a.Status, MFAEnabled: a.MFAEnabled, CreatedAt: a.CreatedAt}
		if !a.LastLoginAt.IsZero() {
			t := a.LastLoginAt
			out.Items[i].LastLoginAt = &t
		}
	}
	return c.JSON(http.StatusOK, out)
}

// attributeMapJSON flattens a source's attribute map: the identity
// attributes by name, then each enterprise attribute by its key.
func attributeMapJSON(m model.AttributeMap) map[string]string {
	out := map[string]string{"external_id": m.ExternalID, "username": m.Username, "email": m.Email,
		"display_name": m.DisplayName, "disabled": m.Disabled}
	for k, v := range m.Enterprise {
		out["enterprise."+k] = v
	}
	return out
}
