package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
)

// apiAccount is the signed-in account (or a token's owner) in the API.
type apiAccount struct {
	ID       int64      `json:"id"`
	Username string     `json:"username"`
	Role     model.Role `json:"role"` // the effective role: a token's own
	TokenID  int64      `json:"token_id,omitempty"`
}

// apiMe is GET /api/v1/me: who the request acts as.
func (s *Server) apiMe(c echo.Context) error {
	a := currentAdmin(c)
	out := apiAccount{ID: a.ID, Username: a.Username, Role: a.Role}
	if t := currentToken(c); t != nil {
		out.TokenID = t.ID
	}
	return c.JSON(http.StatusOK, out)
}

type apiToken struct {
	ID         int64      `json:"id"`
	AccountID  int64      `json:"account_id"`
	Account    string     `json:"account"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Role       model.Role `json:"role"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	LastUsedIP string     `json:"last_used_ip,omitempty"`
}

func toAPIToken(t *model.APIToken) apiToken {
	out := apiToken{ID: t.ID, AccountID: t.AdminID, Account: t.Owner, Name: t.Name, Prefix: t.Prefix, Role: t.Role,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, LastUsedIP: t.LastUsedIP}
	if !t.RevokedAt.IsZero() {
		r := t.RevokedAt
		out.RevokedAt = &r
	}
	if !t.LastUsedAt.IsZero() {
		u := t.LastUsedAt
		out.LastUsedAt = &u
	}
	return out
}

// apiListTokens is GET /api/v1/tokens: the account's own tokens, every
// account's for an admin. Secrets are never part of it.
func (s *Server) apiListTokens(c echo.Context) error {
	toks, err := s.store.ListAPITokens(c.Request().Context(), tokenOwnerFilter(currentAdmin(c)))
	if err != nil {
		return err
	}
	out := apiList[apiToken]{Items: make([]apiToken, len(toks))}
	for i := range toks {
		out.Items[i] = toAPIToken(&toks[i])
	}
	return c.JSON(http.StatusOK, out)
}

// apiRevokeToken is DELETE /api/v1/tokens/{id}: revokes (admins only, as
// every API write; an auditor revokes their own tokens in the console).
func (s *Server) apiRevokeToken(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	if err := s.revokeTokenAs(c, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type apiAuditEntry struct {
	ID         int64     `json:"id"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	TokenID    int64     `json:"token_id,omitempty"`
	Action     string    `json:"action"`
	ObjectType string    `json:"object_type"`
	ObjectID   int64     `json:"object_id"`
	Summary    string    `json:"summary"`
	Before     string    `json:"before,omitempty"`
	After      string    `json:"after,omitempty"`
}

// apiListAudit is GET /api/v1/audit: newest first; filters q,
// object_type, object_id, token_id.
func (s *Server) apiListAudit(c echo.Context) error {
	cur, limit, err := pageParams(c)
	if err != nil {
		return err
	}
	f := store.AuditFilter{Search: c.QueryParam("q"), ObjectType: c.QueryParam("object_type")}
	if f.ObjectID, err = queryID(c, "object_id"); err != nil {
		return err
	}
	if f.TokenID, err = queryID(c, "token_id"); err != nil {
		return err
	}
	entries, more, err := s.store.AuditBefore(c.Request().Context(), f, cur.ID, limit)
	if err != nil {
		return err
	}
	out := apiList[apiAuditEntry]{Items: make([]apiAuditEntry, len(entries))}
	for i, e := range entries {
		out.Items[i] = apiAuditEntry{ID: e.ID, At: e.At, Actor: e.Actor, TokenID: e.TokenID, Action: e.Action,
			ObjectType: e.ObjectType, ObjectID: e.ObjectID, Summary: e.Summary, Before: e.Before, After: e.After}
	}
	if more {
		out.NextCursor = cursor{ID: entries[len(entries)-1].ID}.String()
	}
	return c.JSON(http.StatusOK, out)
}
