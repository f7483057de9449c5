package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/model"
)

func bulkWorld(t *testing.T, dialect string, devices int) (*platEnv, string, []int64, int64) {
	e := newAPIEnv(t, dialect)
	ctx := context.Background()
	admin := e.createAdmin("alice", model.RoleAdmin)
	tok, _ := e.token(admin, "bulk", model.RoleAdmin, 0)
	u := &model.User{Username: "owner", Email: "owner@example.com"}
	if err := e.st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, devices)
	for i := range ids {
		d := &model.Device{Name: fmt.Sprintf("DEV-%d", i), Serial: fmt.Sprintf("SN-%d", i), Attributes: model.Attributes{"location": "Berlin"}}
		if err := e.st.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
		ids[i] = d.ID
	}
	return e, tok, ids, u.ID
}

func deviceLocations(t *testing.T, e *platEnv, ids []int64) []string {
	t.Helper()
	out := make([]string, len(ids))
	for i, id := range ids {
		d, err := e.st.GetDevice(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = d.Attributes["location"]
	}
	return out
}

func TestAPIBulkDevices(t *testing.T) {
	for _, dialect := range apiDialects {
		t.Run(dialect, func(t *testing.T) {
			e, tok, ids, uid := bulkWorld(t, dialect, 3)
			// All or nothing: the third row names no device, nothing is applied.
			r := e.api("POST", "/api/v1/devices:bulk", tok, map[string]any{"changes": []map[string]any{
				{"id": ids[0], "attributes": map[string]string{"location": "Paris"}},
				{"id": ids[1], "attributes": map[string]string{"location": "Paris"}, "user_id": uid},
				{"id": 999999, "attributes": map[string]string{"location": "Paris"}},
			}}, nil)
			if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.raw), "Change 3") || !strings.Contains(string(r.raw), "Nothing was applied") {
				t.Errorf("bulk with an unknown device: %d %s", r.status, r.raw)
			}
			if got := deviceLocations(t, e, ids); got[0] != "Berlin" || got[1] != "Berlin" {
				t.Errorf("a refused all-or-nothing bulk changed devices: %v", got)
			}
			d1, _ := e.st.GetDevice(context.Background(), ids[1])
			if d1.UserID != 0 {
				t.Errorf("a refused all-or-nothing bulk assigned a device")
			}
			// Unknown user: the row and the field are named.
			r = e.api("POST", "/api/v1/devices:bulk", tok, map[string]any{"changes": []map[string]any{
				{"id": ids[0], "user_id": 424242},
			}}, nil)
			if r.status != http.StatusUnprocessableEntity || r.errFields()["changes[0].user_id"] == nil {
				t.Errorf("bulk with an unknown user: %d %s", r.status, r.raw)
			}
			// Applied: updates, an assignment and a create.
			r = e.api("POST", "/api/v1/devices:bulk", tok, map[string]any{"changes": []map[string]any{
				{"id": ids[0], "attributes": map[string]string{"location": "Paris"}},
				{"id": ids[1], "attributes": map[string]string{"location": "Lyon"}, "user_id": uid},
				{"name": "NEW-1", "serial": "SN-NEW", "attributes": map[string]string{"cost_center": "CC-7"}},
			}}, nil)
			if r.status != http.StatusOK || r.body["applied"] != float64(3) {
				t.Fatalf("bulk: %d %s", r.status, r.raw)
			}
			if got := deviceLocations(t, e, ids); got[0] != "Paris" || got[1] != "Lyon" || got[2] != "Berlin" {
				t.Errorf("after bulk: %v", got)
			}
			if d1, _ := e.st.GetDevice(context.Background(), ids[1]); d1.UserID != uid {
				t.Errorf("bulk did not assign the device")
			}
			// Per row: the good rows are applied, the bad one is reported.
			r = e.api("POST", "/api/v1/devices:bulk?mode=per_row", tok, map[string]any{"changes": []map[string]any{
				{"id": ids[0], "attributes": map[string]string{"location": "Rome"}},
				{"id": ids[1], "serial": "SN-NEW"},
				{"id": ids[2], "attributes": map[string]string{"location": "Oslo"}},
			}}, nil)
			res, _ := r.body["results"].([]any)
			if r.status != http.StatusOK || len(res) != 3 || r.body["applied"] != float64(2) || r.body["refused"] != float64(1) {
				t.Fatalf("per_row bulk: %d %s", r.status, r.raw)
			}
			row2, _ := res[1].(map[string]any)
			if row2["status"] != "refused" || !strings.Contains(fmt.Sprint(row2["error"]), "serial") {
				t.Errorf("per_row row 2 = %v, want refused on serial", row2)
			}
			if got := deviceLocations(t, e, ids); got[0] != "Rome" || got[2] != "Oslo" {
				t.Errorf("after per_row bulk: %v", got)
			}
		})
	}
}

// TestAPIBadInput sends each kind of bad input and expects a precise
// error and no change.
func TestAPIBadInput(t *testing.T) {
	e, tok, ids, _ := bulkWorld(t, "sqlite", 2)
	row := func(s string) string { return `{"changes":[` + s + `]}` }
	many := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"changes":[`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":%d,"platform":"x"}`, ids[0])
		}
		b.WriteString("]}")
		return b.String()
	}
	for _, tc := range []struct {
		name, path, body string
		hdr              map[string]string
		status           int
		want             string // in the body
	}{
		{"malformed JSON", "/api/v1/devices/" + fmt.Sprint(ids[0]), `{"platform": "x",}`, nil, 422, "line 1, column"},
		{"unknown field", "/api/v1/devices/" + fmt.Sprint(ids[0]), `{"colour": "red"}`, nil, 422, `"colour":"is not a known field"`},
		{"wrong type", "/api/v1/devices/" + fmt.Sprint(ids[0]), `{"user_id": "bob"}`, nil, 422, `"user_id":"must be an integer, not string"`},
		{"two values", "/api/v1/devices/" + fmt.Sprint(ids[0]), `{} {}`, nil, 422, "more than one JSON value"},
		{"byte-order mark", "/api/v1/devices/" + fmt.Sprint(ids[0]), "\xef\xbb\xbf{}", nil, 422, "byte-order mark"},
		{"not JSON", "/api/v1/devices/" + fmt.Sprint(ids[0]), `platform=x`, map[string]string{"Content-Type": "text/csv"}, 415, "application/json"},
		{"bulk row unknown field", "/api/v1/devices:bulk", row(`{"id":1},{"id":2,"colour":"red"}`), nil, 422, `"changes[1].colour"`},
		{"bulk row wrong type", "/api/v1/devices:bulk", row(`{"id":"one"}`), nil, 422, `"changes[0].id"`},
		{"duplicated rows", "/api/v1/devices:bulk", row(fmt.Sprintf(`{"id":%d},{"id":%d}`, ids[0], ids[0])), nil, 422, "repeats row 1"},
		{"duplicated serial", "/api/v1/devices:bulk", row(`{"name":"a","serial":"S-1"},{"name":"b","serial":"s-1"}`), nil, 422, "repeats row 1"},
		{"bad row", "/api/v1/devices:bulk", row(`{"name":""}`), nil, 422, `"changes[0].name"`},
		{"no changes", "/api/v1/devices:bulk", `{}`, nil, 422, `"changes"`},
		{"10,001 rows", "/api/v1/devices:bulk", many(10001), nil, 422, "at most 10000"},
		{"bad mode", "/api/v1/devices:bulk?mode=some", row(`{"id":1}`), nil, 422, `"mode"`},
		{"bad cursor", "/api/v1/devices?cursor=zzz", "", nil, 422, `"cursor"`},
		{"bad limit", "/api/v1/devices?limit=100000", "", nil, 422, `"limit"`},
	} {
		method := "POST"
		if strings.HasPrefix(tc.path, "/api/v1/devices/") {
			method = "PATCH"
		}
		var body any
		if tc.body != "" {
			body = tc.body
		} else {
			method = "GET"
		}
		r := e.api(method, tc.path, tok, body, tc.hdr)
		if r.status != tc.status || !strings.Contains(string(r.raw), tc.want) || r.errCode() == "" {
			t.Errorf("%s: %d %.300s, want %d with %s", tc.name, r.status, r.raw, tc.status, tc.want)
		}
	}
	if got := deviceLocations(t, e, ids); got[0] != "Berlin" || got[1] != "Berlin" {
		t.Errorf("bad input changed devices: %v", got)
	}
	d, _ := e.st.GetDevice(context.Background(), ids[0])
	if d.Platform != "" {
		t.Errorf("bad input changed the platform to %q", d.Platform)
	}
	// 100 MB: refused from its declared length, before it is read.
	req, _ := http.NewRequest("POST", e.ts.URL+"/api/v1/devices:bulk", io.LimitReader(spaceReader{}, 100<<20))
	req.ContentLength = 100 << 20
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	res, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err == nil {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), model.ETOOLARGE) {
			t.Errorf("100 MB body: %d %s", res.StatusCode, b)
		}
	} // a client error is fine too: the server closed the connection instead of reading 100 MB
	t.Logf("100 MB body answered in %v", time.Since(start))
}

type spaceReader struct{}

func (spaceReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// TestAPIETag: If-Match with a stale ETag answers 412 and changes nothing.
func TestAPIETag(t *testing.T) {
	e, tok, ids, _ := bulkWorld(t, "sqlite", 1)
	path := "/api/v1/devices/" + fmt.Sprint(ids[0])
	r := e.api("GET", path, tok, nil, nil)
	etag := r.header.Get("ETag")
	if r.status != 200 || etag == "" {
		t.Fatalf("GET: %d etag %q", r.status, etag)
	}
	r = e.api("PATCH", path, tok, map[string]any{"platform": "Linux"}, map[string]string{"If-Match": etag})
	if r.status != 200 || r.header.Get("ETag") == etag {
		t.Fatalf("PATCH with the current ETag: %d %s", r.status, r.raw)
	}
	r = e.api("PATCH", path, tok, map[string]any{"platform": "macOS"}, map[string]string{"If-Match": etag})
	if r.status != http.StatusPreconditionFailed {
		t.Errorf("PATCH with a stale ETag: %d %s", r.status, r.raw)
	}
	if d, _ := e.st.GetDevice(context.Background(), ids[0]); d.Platform != "Linux" {
		t.Errorf("a stale write changed the device: %q", d.Platform)
	}
}

// TestAPIPagination walks the devices list by cursor: every device once.
func TestAPIPagination(t *testing.T) {
	e, tok, ids, _ := bulkWorld(t, "sqlite", 7)
	seen := map[float64]bool{}
	next := ""
	for pages := 0; pages < 10; pages++ {
		r := e.api("GET", "/api/v1/devices?limit=3&cursor="+next, tok, nil, nil)
		if r.status != 200 {
			t.Fatalf("page: %d %s", r.status, r.raw)
		}
		items, _ := r.body["items"].([]any)
		for _, it := range items {
			id := it.(map[string]any)["id"].(float64)
			if seen[id] {
				t.Errorf("device %v on two pages", id)
			}
			seen[id] = true
		}
		next, _ = r.body["next_cursor"].(string)
		if next == "" {
			break
		}
	}
	if len(seen) != len(ids) {
		t.Errorf("walked %d devices, want %d", len(seen), len(ids))
	}
}
