package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
)

// dbSessionStore is a gorilla/sessions Store over the project's store: the
// cookie carries only a random session id (signed, so garbage costs no
// database read); the values live in admin_sessions under the id's
// SHA-256. A session has an absolute lifetime (maxAge) and an idle
// timeout; both are checked by the database lookup itself.
//
// An anonymous visitor gets an id but no row: their CSRF token is derived
// from the id, so browsing the sign-in page writes nothing. A row is
// written when there is something to keep (a sign-in, a flash message).
type dbSessionStore struct {
	st      *store.Store
	codec   securecookie.Codec
	csrfKey []byte
	opts    sessions.Options
	maxAge  time.Duration
	idle    time.Duration
	now     func() time.Time
	// lastPrune is the unix second of the last prune of expired rows.
	lastPrune atomic.Int64
}

// Transient value keys (never stored): the id is not yet in the client's
// cookie; the request's client address and user agent for a new row.
const (
	sessFresh = "_fresh"
	sessIP    = "_ip"
	sessUA    = "_ua"
	sessAdmin = "_admin" // *model.Admin read with the session (one query)
)

// touchEvery is how stale last_seen may get before a request writes it:
// the idle clock is exact to this much, and a busy console does not write
// a row per request.
func (ds *dbSessionStore) touchEvery() time.Duration {
	return min(time.Minute, ds.idle/10)
}

func newDBSessionStore(st *store.Store, key []byte, opts sessions.Options, maxAge, idle time.Duration, now func() time.Time) *dbSessionStore {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte("idsync session " + label))
		return m.Sum(nil)
	}
	codec := securecookie.New(derive("authentication"), nil)
	codec.MaxAge(int(maxAge.Seconds()))
	codec.SetSerializer(securecookie.NopEncoder{})
	opts.MaxAge = int(maxAge.Seconds())
	return &dbSessionStore{st: st, codec: codec, csrfKey: derive("csrf"), opts: opts, maxAge: maxAge, idle: idle, now: now}
}

// hashID is what the database stores of a session id.
func hashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// csrfFor returns the CSRF token bound to a session id.
func (ds *dbSessionStore) csrfFor(id string) string {
	if id == "" {
		return ""
	}
	m := hmac.New(sha256.New, ds.csrfKey)
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Get returns the request's session (gorilla caches it per request in its
// registry; idsync keeps it in the echo context instead).
func (ds *dbSessionStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return ds.New(r, name)
}

// New loads the session named by the request's cookie. A missing,
// tampered or expired cookie, or a session ended meanwhile, gives an
// anonymous session; only a database failure is an error.
func (ds *dbSessionStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(ds, name)
	o := ds.opts
	sess.Options = &o
	sess.IsNew = true
	var id []byte
	if ck, err := r.Cookie(name); err == nil {
		if err := ds.codec.Decode(name, ck.Value, &id); err != nil || len(id) < 32 {
			id = nil
		}
	}
	if id == nil {
		sess.ID = randomToken()
		sess.Values[sessFresh] = true
		return sess, nil
	}
	sess.ID = string(id)
	now := ds.now()
	row, admin, err := ds.st.LookupSessionAdmin(r.Context(), hashID(sess.ID), now, ds.idle)
	switch {
	case model.ErrorCode(err) == model.ENOTFOUND:
		// Anonymous, or ended: keep the id (its CSRF token stays valid for
		// the sign-in form) but none of the values.
		return sess, nil
	case err != nil:
		return nil, fmt.Errorf("web: load session: %w", err)
	}
	if err := decodeValues(row.Data, sess.Values); err != nil {
		// A row we cannot read signs nobody in.
		return sess, nil
	}
	sess.IsNew = false
	if admin != nil {
		sess.Values[sessAdmin] = admin
	}
	if now.Sub(row.LastSeenAt) >= ds.touchEvery() {
		if err := ds.st.TouchSession(r.Context(), row.IDHash, now); err != nil {
			return nil, fmt.Errorf("web: load session: %w", err)
		}
	}
	return sess, nil
}

// Save writes the session: a MaxAge < 0 deletes it (sign-out); a stored
// session gets its new values, but is never re-created once ended, so a
// request in flight cannot undo a revocation; a new session with values
// becomes a row.
func (ds *dbSessionStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	ctx := r.Context()
	if sess.Options != nil && sess.Options.MaxAge < 0 {
		if sess.ID != "" {
			if err := ds.st.DeleteSession(ctx, hashID(sess.ID)); err != nil {
				return err
			}
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	if sess.ID == "" {
		sess.ID = randomToken()
		sess.IsNew = true
		sess.Values[sessFresh] = true
	}
	data, n, err := encodeValues(sess.Values)
	if err != nil {
		return err
	}
	switch {
	case !sess.IsNew:
		if _, err := ds.st.UpdateSessionData(ctx, hashID(sess.ID), data); err != nil {
			return err
		}
	case n > 0:
		now := ds.now()
		aid, _ := sess.Values[sessAdminID].(int64)
		ip, _ := sess.Values[sessIP].(string)
		ua, _ := sess.Values[sessUA].(string)
		if err := ds.st.CreateSession(ctx, &model.Session{IDHash: hashID(sess.ID), AdminID: aid, Data: data,
			CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(ds.maxAge), ClientIP: ip, UserAgent: ua}); err != nil {
			return err
		}
		sess.IsNew = false
		if aid != 0 {
			ds.maybePrune(ctx, now)
		}
	}
	if fresh, _ := sess.Values[sessFresh].(bool); fresh || !sess.IsNew {
		enc, err := ds.codec.Encode(sess.Name(), []byte(sess.ID))
		if err != nil {
			return fmt.Errorf("web: encode session cookie: %w", err)
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), enc, sess.Options))
		delete(sess.Values, sessFresh)
	}
	return nil
}

// maybePrune deletes expired sessions, at most once every five minutes,
// from a sign-in (already a slow request).
func (ds *dbSessionStore) maybePrune(ctx context.Context, now time.Time) {
	last := ds.lastPrune.Load()
	if now.Unix()-last < 300 || !ds.lastPrune.CompareAndSwap(last, now.Unix()) {
		return
	}
	_, _ = ds.st.PruneSessions(ctx, now, ds.idle)
}

// encodeValues serializes the session's values (string keys; transient
// "_" keys skipped) to JSON, and returns how many were kept.
func encodeValues(v map[any]any) (string, int, error) {
	m := make(map[string]any, len(v))
	for k, val := range v {
		ks, ok := k.(string)
		if !ok {
			return "", 0, errors.New("web: session value with a non-string key")
		}
		if strings.HasPrefix(ks, "_") {
			continue
		}
		m[ks] = val
	}
	if len(m) == 0 {
		return "", 0, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", 0, fmt.Errorf("web: encode session: %w", err)
	}
	return string(b), len(m), nil
}

// decodeValues reads what encodeValues wrote into dst; whole numbers come
// back as int64.
func decodeValues(data string, dst map[any]any) error {
	if data == "" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(data)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("web: decode session: %w", err)
	}
	for k, v := range m {
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				v = i
			} else if f, err := n.Float64(); err == nil {
				v = f
			}
		}
		dst[k] = v
	}
	return nil
}
