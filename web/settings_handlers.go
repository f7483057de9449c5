package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// settingSwitch is one checkbox of the settings page and the field it sets.
type settingSwitch struct {
	key, label, desc string
	field            func(*model.Settings) *bool
}

// settingSwitches lists the checkboxes in display order; keys are the
// stored setting keys.
func settingSwitches() []settingSwitch {
	return []settingSwitch{
		{"sync_enterprise_groups_to_devices", "Synchronize enterprise groups in user and device properties",
			"When a user's location, corporate unit or cost center changes, the same change is applied to every device assigned to them; existing devices are not rewritten when you turn it on.",
			func(s *model.Settings) *bool { return &s.SyncEnterpriseGroupsToDevices }},
		{"sync_devices_to_users", "Also copy device enterprise group data to users",
			"The reverse direction: a device's enterprise group data is copied to its user only when unambiguous (one device, or all devices agree); conflicts are listed, never guessed.",
			func(s *model.Settings) *bool { return &s.SyncDevicesToUsers }},
		{"auto_profile_sync", "Automatic profile synchronization",
			"Master switch: each sync adds users to profiles whose rules their enterprise attributes match, and removes synced members who no longer match.",
			func(s *model.Settings) *bool { return &s.AutoProfileSync }},
		{"provisioning_enabled", "Provisioning enabled",
			"Directory users in a provisioning-mapped group who have no account here are created; when off, they are only reported.",
			func(s *model.Settings) *bool { return &s.ProvisioningEnabled }},
		{"deprovisioning_enabled", "Deprovisioning enabled",
			"Directory accounts that are in no provisioning-mapped group, gone from the directory or disabled there get the deprovisioning action below.",
			func(s *model.Settings) *bool { return &s.DeprovisioningEnabled }},
		{"auto_product_sync", "Automatic product sync",
			"Every user create or update is delivered to the integrated products the user is assigned to.",
			func(s *model.Settings) *bool { return &s.AutoProductSync }},
	}
}

func settingToggles(st model.Settings) []pages.SettingToggle {
	sw := settingSwitches()
	out := make([]pages.SettingToggle, len(sw))
	for i, w := range sw {
		out[i] = pages.SettingToggle{Key: w.key, Label: w.label, Description: w.desc, On: *w.field(&st)}
	}
	return out
}

// settingValues returns the settings form's fields as text, by stored key.
func settingValues(st model.Settings) map[string]string {
	i := strconv.Itoa
	return map[string]string{
		"refresh_interval_hours":   i(st.RefreshIntervalHours),
		"refresh_start_time":       st.RefreshStartTime,
		"time_zone":                st.TimeZone,
		"deprovision_action":       string(st.DeprovisionAction),
		"service_group_membership": string(st.ServiceGroupMembership),
		"delete_threshold_count":   i(st.DeleteThresholdCount),
		"delete_threshold_percent": i(st.DeleteThresholdPercent),
		"shrink_threshold_percent": i(st.ShrinkThresholdPercent),
		"run_retention_days":       i(st.RunRetentionDays),
	}
}

// serverZone is the scheduler's zone when the settings name none: the
// server's --timezone, else its local zone.
func (s *Server) serverZone() *time.Location {
	if s.cfg.TimeZone != nil {
		return s.cfg.TimeZone
	}
	return time.Local
}

func (s *Server) settingsView(c echo.Context, st model.Settings) pages.SettingsView {
	return pages.SettingsView{
		Toggles:        settingToggles(st),
		Values:         settingValues(st),
		CSRF:           s.csrfToken(c),
		CanEdit:        isAdmin(c),
		ServerTimeZone: s.serverZone().String(),
		NextRefresh:    s.settingsNextRefresh(c, st),
	}
}

// settingsNextRefresh is the scheduler's spot on the settings page
// ("Next refresh: …", see dashboard_schedule.go).
func (s *Server) settingsNextRefresh(c echo.Context, st model.Settings) templ.Component {
	return s.settingsSchedule(c)
}

// showSettingsPage shows the System settings page.
func (s *Server) showSettingsPage(c echo.Context) error {
	st, err := s.store.GetSettings(c.Request().Context())
	if err != nil {
		return err
	}
	return s.renderTitled(c, http.StatusOK, "System settings", pages.SettingsPage(s.settingsView(c, st)))
}

// updateSettings saves the settings form (the fields; the checkboxes
// save in place). A rejected form re-renders with the typed values and a
// message at each bad field; nothing is saved.
func (s *Server) updateSettings(c echo.Context) error {
	ctx := c.Request().Context()
	st, err := s.store.GetSettings(ctx)
	if err != nil {
		return err
	}
	typed := map[string]string{}
	bad := map[string]string{}
	num := func(key string, dst *int) {
		v := strings.TrimSpace(c.FormValue(key))
		typed[key] = v
		n, err := strconv.Atoi(v)
		if err != nil {
			bad[key] = "must be a whole number"
			return
		}
		*dst = n
	}
	text := func(key string) string {
		v := strings.TrimSpace(c.FormValue(key))
		typed[key] = v
		return v
	}
	num("refresh_interval_hours", &st.RefreshIntervalHours)
	st.RefreshStartTime = text("refresh_start_time")
	st.TimeZone = text("time_zone")
	st.DeprovisionAction = model.DeprovisionAction(text("deprovision_action"))
	st.ServiceGroupMembership = model.MembershipMode(text("service_group_membership"))
	num("delete_threshold_count", &st.DeleteThresholdCount)
	num("delete_threshold_percent", &st.DeleteThresholdPercent)
	num("shrink_threshold_percent", &st.ShrinkThresholdPercent)
	num("run_retention_days", &st.RunRetentionDays)
	err = model.Invalid(bad)
	if err == nil {
		err = s.store.UpdateSettings(ctx, st)
	}
	if err != nil {
		fields, msg, err := objFormError(err)
		if err != nil {
			return err
		}
		cur, lerr := s.store.GetSettings(ctx)
		if lerr != nil {
			return lerr
		}
		v := s.settingsView(c, cur)
		for k, val := range typed {
			v.Values[k] = val
		}
		v.Errors, v.Message = fields, msg
		return s.renderTitled(c, http.StatusUnprocessableEntity, "System settings", pages.SettingsPage(v))
	}
	if err := s.flash(c, "Settings saved."); err != nil {
		return err
	}
	return redirect(c, "/settings")
}

// toggleSetting saves one checkbox in place: the form posts its key and,
// when checked, value=on. The answer is the checkbox form with "Saved".
func (s *Server) toggleSetting(c echo.Context) error {
	ctx := c.Request().Context()
	key := c.FormValue("setting")
	var sw *settingSwitch
	for _, w := range settingSwitches() {
		if w.key == key {
			sw = &w
			break
		}
	}
	if sw == nil {
		return model.Errorf(model.EINVALID, "Unknown setting.")
	}
	st, err := s.store.GetSettings(ctx)
	if err != nil {
		return err
	}
	*sw.field(&st) = c.FormValue("value") == "on"
	if err := s.store.UpdateSettings(ctx, st); err != nil {
		return err
	}
	if !isFragment(c) {
		if err := s.flash(c, "Settings saved."); err != nil {
			return err
		}
		return redirect(c, "/settings")
	}
	t := pages.SettingToggle{Key: sw.key, Label: sw.label, Description: sw.desc, On: *sw.field(&st)}
	return s.render(c, http.StatusOK, pages.SettingToggleForm(t, s.csrfToken(c), true, true))
}
