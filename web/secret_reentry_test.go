package web

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/idsync/idsync/internal/config"
	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/products"
)

// tcpRecorder is a loopback listener that keeps every byte it is sent
// (an LDAP simple bind carries the password in clear) and hangs up.
type tcpRecorder struct {
	ln    net.Listener
	mu    sync.Mutex
	got   bytes.Buffer
	conns int
}

func startTCPRecorder(t *testing.T) *tcpRecorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &tcpRecorder{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conns++
			r.mu.Unlock()
			go func() {
				defer c.Close()
				_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				b, _ := io.ReadAll(io.LimitReader(c, 1<<16))
				r.mu.Lock()
				r.got.Write(b)
				r.mu.Unlock()
			}()
		}
	}()
	return r
}

func (r *tcpRecorder) URL() string { return "ldap://" + r.ln.Addr().String() }

// seen reports the connections made so far and whether secret was among the bytes.
func (r *tcpRecorder) seen(secret string) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns, bytes.Contains(r.got.Bytes(), []byte(secret))
}

func TestSourceSecretNeverGoesToANewHost(t *testing.T) {
	const oldPW, newPW = "old-bind-secret-42", "new-bind-secret-43"
	hostA, hostB := startTCPRecorder(t), startTCPRecorder(t)
	e := newPlatEnv(t, func(_ *config.Config, d *Deps) { d.Directory = directory.New(nil) })
	e.createAdmin("root", model.RoleAdmin)
	c := e.client()
	c.login("root")
	csrf := c.csrf()
	ctx := model.WithActor(context.Background(), "test")

	src := model.DefaultSource(model.SourceOpenLDAP)
	src.Name, src.URLs, src.BindDN, src.BindPassword = "corp", []string{hostA.URL()}, "cn=sync,dc=example,dc=org", oldPW
	src.UserBaseDN, src.GroupBaseDN, src.Timeout = "ou=people,dc=example,dc=org", "ou=groups,dc=example,dc=org", 2*time.Second
	if err := e.st.CreateSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(src.ID, 10)
	form := func(urls, bindDN, pw string) url.Values {
		s := src
		s.URLs, s.BindDN, s.BindPassword = []string{urls}, bindDN, pw
		v := sourceForm(csrf, s)
		v.Set("id", id)
		v.Set("timeout", "2")
		return v
	}

	// Control: the saved source's test does send the stored password to
	// its own host, so the recorders can see a leak.
	c.post("/sources/"+id+"/test", url.Values{"_csrf": {csrf}})
	if _, ok := hostA.seen(oldPW); !ok {
		t.Fatal("control: the stored password did not reach its own host; the recorder cannot prove anything")
	}

	t.Run("test with a new URL and no password", func(t *testing.T) {
		r := c.post("/sources/test", form(hostB.URL(), src.BindDN, ""))
		if !strings.Contains(r.body, "enter the bind password again") {
			t.Errorf("status %d, body lacks the re-entry message: %.300s", r.status, r.body)
		}
	})
	t.Run("test with a new bind name and no password", func(t *testing.T) {
		before, _ := hostA.seen(oldPW)
		r := c.post("/sources/test", form(hostA.URL(), "cn=attacker,dc=example,dc=org", ""))
		if !strings.Contains(r.body, "enter the bind password again") {
			t.Errorf("status %d, body lacks the re-entry message", r.status)
		}
		if after, _ := hostA.seen(oldPW); after != before {
			t.Errorf("the test connected (%d → %d connections) with the stored password under a new bind name", before, after)
		}
	})
	t.Run("save with a new URL and no password", func(t *testing.T) {
		r := c.post("/sources/"+id, form(hostB.URL(), src.BindDN, ""))
		if r.status != http.StatusUnprocessableEntity || countTestID(r.body, "error-bind_password") != 1 {
			t.Fatalf("status %d, error-bind_password shown %d times; want 422 and the field message", r.status, countTestID(r.body, "error-bind_password"))
		}
		got, err := e.st.GetSource(ctx, src.ID)
		if err != nil || got.URLs[0] != hostA.URL() || got.BindPassword != oldPW {
			t.Fatalf("stored source changed by a refused save: %v %v", got.URLs, err)
		}
		c.post("/sources/"+id+"/test", url.Values{"_csrf": {csrf}})
	})
	if n, leaked := hostB.seen(oldPW); n != 0 || leaked {
		t.Fatalf("new host got %d connections (stored password leaked: %v), want none", n, leaked)
	}

	t.Run("with the password typed again", func(t *testing.T) {
		if r := c.post("/sources/test", form(hostB.URL(), src.BindDN, newPW)); strings.Contains(r.body, "enter the bind password again") {
			t.Fatal("a typed password was refused")
		}
		if r := c.post("/sources/"+id, form(hostB.URL(), src.BindDN, newPW)); r.status != http.StatusSeeOther {
			t.Fatalf("save with a typed password: status %d", r.status)
		}
		c.post("/sources/"+id+"/test", url.Values{"_csrf": {csrf}})
		if _, ok := hostB.seen(newPW); !ok {
			t.Error("the typed password did not reach the new host")
		}
		if _, leaked := hostB.seen(oldPW); leaked {
			t.Error("the old password reached the new host")
		}
	})
}

// httpRecorder is a loopback HTTP server keeping every Authorization header.
type httpRecorder struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string
}

func startHTTPRecorder(t *testing.T) *httpRecorder {
	r := &httpRecorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.auths = append(r.auths, req.Header.Get("Authorization"))
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/scim+json")
		_, _ = io.WriteString(w, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]}`)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *httpRecorder) seen(token string) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.auths {
		if strings.Contains(a, token) {
			return len(r.auths), true
		}
	}
	return len(r.auths), false
}

func TestProductSecretNeverGoesToANewHost(t *testing.T) {
	const oldTok, newTok = "old-bearer-token-42", "new-bearer-token-43"
	hostA, hostB := startHTTPRecorder(t), startHTTPRecorder(t)
	e := newPlatEnv(t, func(cfg *config.Config, d *Deps) {
		cfg.AllowLoopbackProducts = true
		disp, err := products.New(d.Store, nil, products.Options{Policy: products.URLPolicy{AllowLoopback: true}, Registry: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		d.Products = disp
	})
	e.createAdmin("root", model.RoleAdmin)
	c := e.client()
	c.login("root")
	csrf := c.csrf()
	form := func(base, secret string) url.Values {
		v := productForm(csrf, "Portal", base, secret)
		v.Set("kind", "scim")
		return v
	}
	r := c.post("/products", form(hostA.URL+"/scim/v2", oldTok))
	if r.status != http.StatusSeeOther {
		t.Fatalf("create: status %d: %.300s", r.status, r.body)
	}
	path := r.header.Get("Location")
	c.post(path+"/test", url.Values{"_csrf": {csrf}})
	if _, ok := hostA.seen(oldTok); !ok {
		t.Fatal("control: the stored token did not reach its own host; the recorder cannot prove anything")
	}

	r = c.post(path, form(hostB.URL+"/scim/v2", ""))
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "enter the secret again") {
		t.Fatalf("save with a new URL and no secret: status %d, want 422 asking for the secret", r.status)
	}
	id, _ := strconv.ParseInt(strings.TrimPrefix(path, "/products/"), 10, 64)
	p, err := e.st.GetProduct(context.Background(), id)
	if err != nil || !strings.HasPrefix(p.BaseURL, hostA.URL) || p.Secret != oldTok {
		t.Fatalf("stored product changed by a refused save: %q %v", p.BaseURL, err)
	}
	c.post(path+"/test", url.Values{"_csrf": {csrf}})
	if n, _ := hostB.seen(oldTok); n != 0 {
		t.Fatalf("new host got %d requests before the secret was typed again", n)
	}

	if r := c.post(path, form(hostB.URL+"/scim/v2", newTok)); r.status != http.StatusSeeOther {
		t.Fatalf("save with a typed secret: status %d", r.status)
	}
	c.post(path+"/test", url.Values{"_csrf": {csrf}})
	if _, ok := hostB.seen(newTok); !ok {
		t.Error("the typed token did not reach the new host")
	}
	if _, leaked := hostB.seen(oldTok); leaked {
		t.Error("the old token reached the new host")
	}
}
