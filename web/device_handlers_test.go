package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store/storetest"
)

func TestDevices(t *testing.T) {
	h := newObjHarness(t, storetest.Open(t, "sqlite"))
	ctx := context.Background()
	u := model.User{Username: "dave", Status: model.StatusActive, Origin: model.OriginLocal, AccountType: model.AccountDeviceEnabled}
	storetest.Must(t, h.st.CreateUser(ctx, &u))

	t.Run("missing name saves nothing", func(t *testing.T) {
		code, body, _ := h.post("/devices", url.Values{"name": {""}, "serial": {"S-1"}})
		if code != http.StatusUnprocessableEntity || countTestID(body, "error-name") != 1 {
			t.Fatalf("status %d, error-name %d", code, countTestID(body, "error-name"))
		}
		if _, n, _ := h.st.ListDevices(ctx, model.DeviceFilter{}); n != 0 {
			t.Errorf("devices = %d, want 0", n)
		}
	})

	var path string
	t.Run("create shows only enterprise-group attributes", func(t *testing.T) {
		_, form := h.get("/devices/new", false)
		if !strings.Contains(form, `name="attr_location"`) || strings.Contains(form, `name="attr_title"`) {
			t.Errorf("device form attributes wrong")
		}
		code, _, hdr := h.post("/devices", url.Values{"name": {"phone-1"}, "serial": {"P-1"}, "platform": {"ios"}, "attr_location": {"Paris"}})
		if code != http.StatusSeeOther {
			t.Fatalf("status = %d", code)
		}
		path = hdr.Get("Location")
	})

	t.Run("duplicate serial is a field error", func(t *testing.T) {
		code, body, _ := h.post("/devices", url.Values{"name": {"phone-2"}, "serial": {"P-1"}})
		if code != http.StatusUnprocessableEntity || countTestID(body, "error-serial") != 1 {
			t.Errorf("status %d, error-serial %d", code, countTestID(body, "error-serial"))
		}
	})

	t.Run("assign to unknown user keeps the input and changes nothing", func(t *testing.T) {
		code, body, _ := h.post(path+"/assign", url.Values{"username": {"<b>nobody</b>"}})
		if code != http.StatusUnprocessableEntity || countTestID(body, "error-username") != 1 {
			t.Fatalf("status %d, error-username %d", code, countTestID(body, "error-username"))
		}
		if strings.Contains(body, "<b>nobody</b>") || !strings.Contains(body, "&lt;b&gt;nobody&lt;/b&gt;") {
			t.Errorf("typed username not escaped")
		}
		_, body = h.get(path, false)
		if countTestID(body, "device-unassigned") != 1 {
			t.Errorf("device got assigned")
		}
	})

	t.Run("assign and unassign", func(t *testing.T) {
		if code, _, _ := h.post(path+"/assign", url.Values{"username": {"DAVE"}}); code != http.StatusSeeOther {
			t.Fatalf("assign status = %d", code)
		}
		_, body := h.get(path, false)
		if !strings.Contains(body, `data-testid="device-user">dave<`) {
			t.Errorf("device page does not show its user")
		}
		_, list := h.get("/devices?q=phone", false)
		if countTestID(list, "device-row") != 1 || !strings.Contains(list, ">dave</a>") {
			t.Errorf("devices list does not show the user")
		}
		if code, _, _ := h.post(path+"/unassign", nil); code != http.StatusSeeOther {
			t.Fatalf("unassign status = %d", code)
		}
		_, body = h.get(path, false)
		if countTestID(body, "device-unassigned") != 1 {
			t.Errorf("device still assigned")
		}
	})

	t.Run("search sort pagination", func(t *testing.T) {
		for i := range 55 {
			d := model.Device{Name: fmt.Sprintf("tab-%02d", i), Serial: fmt.Sprintf("T-%02d", i)}
			storetest.Must(t, h.st.CreateDevice(ctx, &d))
		}
		for _, tt := range []struct {
			path string
			rows int
		}{{"/devices?q=tab-", 50}, {"/devices?q=tab-&page=2", 5}, {"/devices?q=T-1&sort=serial&dir=desc", 10}} {
			_, body := h.get(tt.path, true)
			if got := countTestID(body, "device-row"); got != tt.rows {
				t.Errorf("%s: rows = %d, want %d", tt.path, got, tt.rows)
			}
		}
		_, body := h.get("/devices?q=tab-&sort=name&dir=desc", true)
		if !strings.Contains(body, `data-testid="device-link">tab-54<`) || strings.Index(body, "tab-54") > strings.Index(body, "tab-53") {
			t.Errorf("descending sort: tab-54 is not first")
		}
	})
}
