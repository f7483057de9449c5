package store_test

import (
	"testing"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
)

// wantCode fails t unless err carries code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := model.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// wantField fails t unless err has a message for field.
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	if _, ok := model.ErrorFields(err)[field]; !ok {
		t.Fatalf("error %v has no message for field %q", err, field)
	}
}

func count(t *testing.T, s *store.Store, table string) int64 {
	t.Helper()
	var n int64
	if err := s.DB().Table(table).Count(&n).Error; err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func mustUser(t *testing.T, s *store.Store, username string, attrs model.Attributes) *model.User {
	t.Helper()
	u := &model.User{Username: username, Email: username + "@example.com", DisplayName: "User " + username, Attributes: attrs}
	if err := s.CreateUser(ctxT(), u); err != nil {
		t.Fatalf("CreateUser %s: %v", username, err)
	}
	return u
}

func mustSettings(t *testing.T, s *store.Store, edit func(*model.Settings)) {
	t.Helper()
	st, err := s.GetSettings(ctxT())
	if err != nil {
		t.Fatal(err)
	}
	edit(&st)
	if err := s.UpdateSettings(ctxT(), st); err != nil {
		t.Fatalf("UpdateSettings: %v", err)
	}
}

func lastAudit(t *testing.T, s *store.Store) model.AuditEntry {
	t.Helper()
	es, _, err := s.ListAudit(ctxT(), model.ListQuery{PerPage: 1})
	if err != nil || len(es) == 0 {
		t.Fatalf("ListAudit: %v (%d entries)", err, len(es))
	}
	return es[0]
}
