package web

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/idsync/idsync/internal/store/storetest"
)

func TestAttributes(t *testing.T) {
	h := newObjHarness(t, storetest.Open(t, "sqlite"))
	ctx := context.Background()
	before, err := h.st.ListAttributes(ctx)
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name  string
		form  url.Values
		field string
	}{
		{"bad key", url.Values{"key": {"Bad Key!"}, "name": {"Bad"}}, "error-key"},
		{"taken key", url.Values{"key": {"location"}, "name": {"Loc"}}, "error-key"},
		{"bad position", url.Values{"key": {"floor"}, "name": {"Floor"}, "position": {"x"}}, "error-position"},
		{"missing name", url.Values{"key": {"floor"}, "name": {""}}, "error-name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body, _ := h.post("/attributes", tt.form)
			if code != http.StatusUnprocessableEntity || countTestID(body, tt.field) != 1 {
				t.Errorf("status %d, %s shown %d times", code, tt.field, countTestID(body, tt.field))
			}
			after, _ := h.st.ListAttributes(ctx)
			if len(after) != len(before) {
				t.Errorf("attributes = %d, want %d", len(after), len(before))
			}
		})
	}

	t.Run("create and edit keeps the key", func(t *testing.T) {
		code, _, _ := h.post("/attributes", url.Values{"key": {"floor"}, "name": {"Floor"}, "position": {"9"}})
		if code != http.StatusSeeOther {
			t.Fatalf("create status = %d", code)
		}
		defs, _ := h.st.ListAttributes(ctx)
		var id int64
		for _, d := range defs {
			if d.Key == "floor" {
				id = d.ID
			}
		}
		if id == 0 {
			t.Fatal("floor not stored")
		}
		code, _, _ = h.post("/attributes/"+objIDStr(id), url.Values{"key": {"changed"}, "name": {"Floor level"}, "position": {"9"}, "enterprise_group": {"on"}})
		if code != http.StatusSeeOther {
			t.Fatalf("update status = %d", code)
		}
		a, err := h.st.GetAttribute(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if a.Key != "floor" || a.Name != "Floor level" || !a.EnterpriseGroup {
			t.Errorf("attribute after edit = %+v", a)
		}
	})
}
