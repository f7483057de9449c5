package products

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/products/elimitytest"
)

// Bad answers from a provider are failed attempts with a clear reason:
// never a panic, never a change recorded for (or applied to) another
// user. Each case answers one request of a delivery itself; the other
// requests reach the elimity-based provider.
func TestSCIMBadAnswers(t *testing.T) {
	big := strings.Repeat("x", 30<<20)
	scim := func(w http.ResponseWriter, status int, body string) {
		w.Header().Set("Content-Type", ContentTypeSCIM)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
	user := func(id, name string) string {
		return `{"schemas":["` + SchemaUser + `"],"id":"` + id + `","userName":"` + name + `"}`
	}
	tests := []struct {
		name   string
		when   func(r *http.Request) bool // which request gets the bad answer
		answer func(w http.ResponseWriter, r *http.Request)
		want   string
	}{
		{"html", isPost, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(201)
			_, _ = w.Write([]byte("<html><body>Welcome! Please sign in</body></html>"))
		}, `content type "text/html"`},
		{"empty body", isPost, func(w http.ResponseWriter, r *http.Request) { scim(w, 201, "") }, "empty body"},
		{"200 without id", isPost, func(w http.ResponseWriter, r *http.Request) {
			scim(w, 200, `{"schemas":["`+SchemaUser+`"],"userName":"ann"}`)
		}, "no id"},
		{"another userName", isPost, func(w http.ResponseWriter, r *http.Request) { scim(w, 201, user("u-9", "mallory")) }, `userName "mallory"`},
		{"another id on PATCH", isPatch, func(w http.ResponseWriter, r *http.Request) { scim(w, 200, user("someone-else", "ann")) }, `answer is user "someone-else"`},
		{"Location elsewhere", isPost, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "http://127.0.0.1:1/scim/v2/Users/u-1")
			scim(w, 201, user("u-1", "ann"))
		}, "Location header"},
		{"30 MB answer", isPost, func(w http.ResponseWriter, r *http.Request) {
			scim(w, 201, `{"schemas":["`+SchemaUser+`"],"id":"u-1","userName":"ann","displayName":"`+big+`"}`)
		}, "more than 1 MiB"},
		{"redirect", isPost, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusFound)
		}, "redirects are not followed"},
		{"lookup HTML", isLookup, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html></html>"))
		}, "content type"},
		{"lookup list of another user", isLookup, func(w http.ResponseWriter, r *http.Request) {
			// a provider that ignores the filter: bob is not adopted, ann is
			// created (the one case here that succeeds)
			scim(w, 200, `{"schemas":["`+SchemaListResponse+`"],"totalResults":1,"Resources":[`+user("u-7", "bob")+`]}`)
		}, ""},
		{"lookup not a list", isLookup, func(w http.ResponseWriter, r *http.Request) { scim(w, 200, `[1,2,3]`) }, "invalid SCIM answer"},
		{"garbage", isPost, func(w http.ResponseWriter, r *http.Request) { scim(w, 201, "{\x00\xff") }, "invalid SCIM answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := elimitytest.New(t, "tok")
			other := srv.PutUser(map[string]any{"schemas": []any{SchemaUser}, "userName": "bob", "externalId": "99"})
			p := &model.Product{ID: 1, Kind: model.ProductSCIM, BaseURL: srv.URL, Secret: "tok", UpdateMode: model.UpdatePatch}
			c := &scimClient{hc: NewHTTPClient(URLPolicy{AllowLoopback: true}, 10*time.Second), base: srv.URL, token: "tok"}
			u := &model.User{ID: 7, Username: "ann", DisplayName: "Ann", Status: model.StatusActive, Attributes: model.Attributes{}}
			cl := model.DeliveryClaim{DeliveryState: model.DeliveryState{UserID: 7, WantedVersion: 1}, Username: "ann", Assigned: true}
			if strings.Contains(tt.name, "PATCH") {
				// first create ann properly, then change her: the PATCH gets the bad answer
				res, err := deliverSCIM(context.Background(), c, p, cl, u)
				if err != nil {
					t.Fatal(err)
				}
				cl.RemoteID, cl.RemoteVersion, cl.DeliveredDoc = res.remoteID, res.etag, res.doc.encode()
				u.DisplayName = "Ann B"
			}
			srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
				if tt.when(r) {
					tt.answer(w, r)
					return true
				}
				return false
			})
			res, err := deliverSCIM(context.Background(), c, p, cl, u)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("err = %v, want success", err)
			case tt.want == "":
				if a := srv.UserByName("ann"); a == nil || a.ID != res.remoteID {
					t.Fatalf("ann not created as %q: %+v", res.remoteID, a)
				}
			case err == nil:
				t.Fatalf("no error; result %+v", res)
			case !strings.Contains(err.Error(), tt.want):
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			if res.remoteID == other {
				t.Fatalf("the delivery took over another user's account %s", other)
			}
			if res.doc != nil && res.remoteID == "" {
				t.Fatalf("a doc was recorded without an account: %+v", res)
			}
			if b := srv.UserByName("bob"); b == nil || b.Str("displayName") != "" || b.ExternalID != "99" {
				t.Fatalf("another user changed: %+v", b)
			}
			if err != nil && len(err.Error()) > 2000 {
				t.Fatalf("reason is %d bytes long", len(err.Error()))
			}
		})
	}
}

func isPost(r *http.Request) bool  { return r.Method == http.MethodPost }
func isPatch(r *http.Request) bool { return r.Method == http.MethodPatch }
func isLookup(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.Query().Get("filter") != ""
}

// FuzzParseUser: any bytes as a User answer give a user with an id or an
// error, never a panic.
func FuzzParseUser(f *testing.F) {
	f.Add([]byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"1","userName":"a","active":true,` +
		`"name":{"givenName":"A"},"emails":[{"value":"a@example.com","type":"work"}],` +
		`"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"costCenter":"1","manager":{"value":"2"}}}`))
	f.Add([]byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a"}`))
	f.Add([]byte(`{"active":"yes"}`))
	f.Add([]byte(`<html>`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := parseUserBody(b)
		if err == nil {
			if u.ID == "" {
				t.Fatal("a user without id was accepted")
			}
			d := docOf(u)
			_ = patchOps(d, userDoc{"userName": "x", docActive: true}, d)
			_ = d.resource()
		}
	})
}

// FuzzParseList: any bytes as a ListResponse give a list or an error.
func FuzzParseList(f *testing.F) {
	f.Add([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"Resources":[{"id":"1","userName":"a"}]}`))
	f.Add([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0}`))
	f.Add([]byte(`{"Resources":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := parseListBody(b)
		if err == nil && l.TotalResults == nil {
			t.Fatal("a list without totalResults was accepted")
		}
	})
}

// FuzzStatusErr: any error answer gives a bounded reason.
func FuzzStatusErr(f *testing.F) {
	f.Add(400, []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"bad","scimType":"invalidFilter","status":"400"}`))
	f.Add(500, []byte(`<html>oops</html>`))
	f.Add(401, []byte{})
	f.Fuzz(func(t *testing.T, status int, b []byte) {
		err := statusErr(&exchange{Method: "GET", URL: "http://127.0.0.1/x", Status: status, Resp: b})
		if err == nil || len(err.Error()) > 600 {
			t.Fatalf("reason %v", err)
		}
	})
}

// FuzzWebhookAnswer: whatever a webhook receiver answers, postWebhook
// reports success exactly for a 2xx and never panics.
func FuzzWebhookAnswer(f *testing.F) {
	var mu sync.Mutex
	var status int
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		st, b := status, body
		mu.Unlock()
		w.WriteHeader(st)
		_, _ = w.Write(b)
	}))
	f.Cleanup(srv.Close)
	hc := NewHTTPClient(URLPolicy{AllowLoopback: true}, 5*time.Second)
	p := &model.Product{Kind: model.ProductWebhook, BaseURL: srv.URL, Secret: "k"}
	f.Add(200, []byte("ok"))
	f.Add(204, []byte{})
	f.Add(302, []byte("<html>moved</html>"))
	f.Add(500, []byte(strings.Repeat("e", 10000)))
	f.Fuzz(func(t *testing.T, st int, b []byte) {
		if st < 200 || st > 599 {
			return // not a status a server can send
		}
		mu.Lock()
		status, body = st, b
		mu.Unlock()
		ex, err := postWebhook(context.Background(), hc, p, Event{Type: EventPing, Timestamp: nowUTC()})
		if ok := st >= 200 && st <= 299; ok != (err == nil) {
			t.Fatalf("status %d: err %v", st, err)
		}
		if ex == nil || len(ex.Resp) > 4096 {
			t.Fatalf("exchange %+v", ex)
		}
	})
}
