// Package webhooktest is a webhook receiver for tests and benchmarks: it
// checks every request's HMAC signature and timestamp like a careful
// product would, and records the events it accepted.
package webhooktest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/products"
)

// Receiver is a running webhook endpoint.
type Receiver struct {
	URL    string
	secret []byte
	srv    *httptest.Server
	// Keep false skips storing events (benchmarks): only Accepted counts.
	keep     bool
	accepted atomic.Int64
	rejected atomic.Int64

	mu     sync.Mutex
	events []products.Event
	fault  func(w http.ResponseWriter, r *http.Request) bool
}

// New starts a receiver on 127.0.0.1 verifying with secret; stopped by
// t.Cleanup. keep=false only counts events.
func New(t testing.TB, secret string, keep bool) *Receiver {
	t.Helper()
	rc := &Receiver{secret: []byte(secret), keep: keep}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("webhooktest: listen: %v", err)
	}
	rc.srv = httptest.NewUnstartedServer(http.HandlerFunc(rc.serve))
	rc.srv.Listener.Close()
	rc.srv.Listener = l
	rc.srv.Start()
	rc.URL = rc.srv.URL + "/hook"
	t.Cleanup(rc.srv.Close)
	return rc
}

// SetFault installs (nil removes) a hook that may answer a request itself.
func (rc *Receiver) SetFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	rc.mu.Lock()
	rc.fault = f
	rc.mu.Unlock()
}

// Accepted counts the requests accepted.
func (rc *Receiver) Accepted() int64 { return rc.accepted.Load() }

// Rejected counts the requests refused (bad signature, injected failure).
func (rc *Receiver) Rejected() int64 { return rc.rejected.Load() }

// Events returns the accepted events in arrival order.
func (rc *Receiver) Events() []products.Event {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]products.Event(nil), rc.events...)
}

func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	fault := rc.fault
	rc.mu.Unlock()
	if fault != nil && fault(w, r) {
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		rc.rejected.Add(1)
		http.Error(w, "POST application/json only", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		rc.rejected.Add(1)
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if err := products.Verify(rc.secret, r.Header.Get(products.HeaderTimestamp), r.Header.Get(products.HeaderSignature),
		body, time.Now(), 5*time.Minute); err != nil {
		rc.rejected.Add(1)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var ev products.Event
	if err := json.Unmarshal(body, &ev); err != nil || ev.Type == "" {
		rc.rejected.Add(1)
		http.Error(w, "not an event", http.StatusBadRequest)
		return
	}
	rc.accepted.Add(1)
	if rc.keep {
		rc.mu.Lock()
		rc.events = append(rc.events, ev)
		rc.mu.Unlock()
	}
	w.WriteHeader(http.StatusNoContent)
}
