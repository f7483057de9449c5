package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/store/storetest"
)

func TestSettings(t *testing.T) {
	h := newObjHarness(t, storetest.Open(t, "sqlite"))
	ctx := context.Background()

	t.Run("page explains every switch", func(t *testing.T) {
		code, body := h.get("/settings", false)
		if code != http.StatusOK {
			t.Fatalf("status = %d", code)
		}
		for _, w := range settingSwitches() {
			if countTestID(body, "setting-"+w.key) != 1 {
				t.Errorf("checkbox %s missing", w.key)
			}
		}
		if countTestID(body, "next-refresh") != 1 {
			t.Errorf("next-refresh spot missing")
		}
	})

	t.Run("empty time zone names the server's --timezone", func(t *testing.T) {
		tokyo, err := time.LoadLocation("Asia/Tokyo")
		if err != nil {
			t.Skipf("no tzdata: %v", err)
		}
		old := h.srv.cfg.TimeZone
		h.srv.cfg.TimeZone = tokyo
		defer func() { h.srv.cfg.TimeZone = old }()
		_, body := h.get("/settings", false)
		if !strings.Contains(body, "empty uses the server&#39;s zone (Asia/Tokyo)") && !strings.Contains(body, "empty uses the server's zone (Asia/Tokyo)") {
			t.Errorf("the time zone hint does not name the server's --timezone (Asia/Tokyo)")
		}
	})

	t.Run("checkbox saves in place", func(t *testing.T) {
		code, body := h.hxPost("/settings/toggle", url.Values{"setting": {"sync_enterprise_groups_to_devices"}, "value": {"on"}})
		if code != http.StatusOK {
			t.Fatalf("status = %d: %s", code, body)
		}
		if countTestID(body, "saved-sync_enterprise_groups_to_devices") != 1 || strings.Contains(body, "<html") {
			t.Errorf("answer is not the saved fragment: %s", body)
		}
		st, err := h.st.GetSettings(ctx)
		if err != nil || !st.SyncEnterpriseGroupsToDevices {
			t.Fatalf("setting not saved: %v", err)
		}
		// Unchecked: no value posted.
		if code, _ := h.hxPost("/settings/toggle", url.Values{"setting": {"auto_profile_sync"}}); code != http.StatusOK {
			t.Fatalf("status = %d", code)
		}
		st, _ = h.st.GetSettings(ctx)
		if st.AutoProfileSync {
			t.Errorf("auto profile sync still on")
		}
		if code, _ := h.hxPost("/settings/toggle", url.Values{"setting": {"refresh_interval_hours"}, "value": {"on"}}); code != http.StatusUnprocessableEntity {
			t.Errorf("unknown switch status = %d, want 422", code)
		}
	})

	valid := url.Values{"refresh_interval_hours": {"24"}, "refresh_start_time": {"03:30"}, "time_zone": {"Europe/Berlin"},
		"deprovision_action": {"disable"}, "service_group_membership": {"multiple"}, "delete_threshold_count": {"100"},
		"delete_threshold_percent": {"5"}, "shrink_threshold_percent": {"20"}, "run_retention_days": {"30"}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for key, vals := range valid {
			f[key] = append([]string(nil), vals...)
		}
		f.Set(k, v)
		return f
	}
	for _, tt := range []struct{ field, value string }{
		{"refresh_interval_hours", "abc"},
		{"refresh_interval_hours", "0"},
		{"refresh_start_time", "25:99"},
		{"time_zone", "Mars/Olympus"},
		{"deprovision_action", "explode"},
		{"service_group_membership", "many"},
		{"delete_threshold_percent", "101"},
	} {
		t.Run("invalid "+tt.field+"="+tt.value, func(t *testing.T) {
			before, _ := h.st.GetSettings(ctx)
			code, body, _ := h.post("/settings", with(tt.field, tt.value))
			if code != http.StatusUnprocessableEntity || countTestID(body, "error-"+tt.field) != 1 {
				t.Errorf("status %d, error-%s shown %d", code, tt.field, countTestID(body, "error-"+tt.field))
			}
			after, _ := h.st.GetSettings(ctx)
			if after != before {
				t.Errorf("settings changed on a rejected form")
			}
		})
	}

	t.Run("valid form saves and keeps the switches", func(t *testing.T) {
		code, _, _ := h.post("/settings", valid)
		if code != http.StatusSeeOther {
			t.Fatalf("status = %d", code)
		}
		st, _ := h.st.GetSettings(ctx)
		if st.RefreshIntervalHours != 24 || st.RefreshStartTime != "03:30" || st.TimeZone != "Europe/Berlin" || st.DeprovisionAction != "disable" || !st.SyncEnterpriseGroupsToDevices {
			t.Errorf("settings = %+v", st)
		}
	})
}
