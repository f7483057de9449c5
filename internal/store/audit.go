package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

type auditRow struct {
	ID         int64 `gorm:"primaryKey"`
	At         time.Time
	Actor      string
	Action     string
	ObjectType string
	ObjectID   int64
	Summary    string
	BeforeJSON string `gorm:"column:before_json"`
	AfterJSON  string `gorm:"column:after_json"`
	Search     string
	TokenID    *int64 // the API token the change was made with
}

func (auditRow) TableName() string { return "audit_log" }

func (r *auditRow) model() model.AuditEntry {
	e := model.AuditEntry{ID: r.ID, At: r.At.UTC(), Actor: r.Actor, Action: r.Action, ObjectType: r.ObjectType,
		ObjectID: r.ObjectID, Summary: r.Summary, Before: r.BeforeJSON, After: r.AfterJSON}
	if r.TokenID != nil {
		e.TokenID = *r.TokenID
	}
	return e
}

// auditToken returns the API token id of ctx for an audit row, nil for none.
func auditToken(ctx context.Context) *int64 {
	if id := model.TokenFrom(ctx); id != 0 {
		return &id
	}
	return nil
}

// auditJSON renders v for an audit entry; nil renders as "". Callers pass
// values with secrets already removed.
func auditJSON(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%q", fmt.Sprint(v))
	}
	return string(b)
}

// audit writes one audit entry in tx, the transaction of the change it
// records. The actor comes from ctx (model.WithActor).
func audit(ctx context.Context, tx *gorm.DB, action, objectType string, objectID int64, summary string, before, after any) error {
	actor := model.ActorFrom(ctx)
	r := auditRow{
		At: now(), Actor: actor, Action: action, ObjectType: objectType, ObjectID: objectID,
		Summary: summary, BeforeJSON: auditJSON(before), AfterJSON: auditJSON(after),
		Search:  strings.ToLower(actor + "\n" + action + "\n" + objectType + "\n" + summary),
		TokenID: auditToken(ctx),
	}
	if err := tx.Create(&r).Error; err != nil {
		return fmt.Errorf("store: write audit %s %s %d: %w", action, objectType, objectID, err)
	}
	return nil
}

// ListAudit returns audit entries newest first. Search matches actor,
// action, object type and summary.
func (s *Store) ListAudit(ctx context.Context, q model.ListQuery) ([]model.AuditEntry, int, error) {
	q = q.Normalize()
	db := s.db.WithContext(ctx).Model(&auditRow{})
	if p := likePattern(q.Search); p != "" {
		db = db.Where(`search LIKE ? ESCAPE '\'`, p)
	}
	var total int64
	if err := db.Count(&total).Error; err != nil {
		return nil, 0, dbErr("store: count audit", err)
	}
	order := "id DESC"
	if q.Sort == "at" && !q.Desc {
		order = "id"
	}
	var rows []auditRow
	if err := db.Order(order).Limit(q.PerPage).Offset(q.Offset()).Find(&rows).Error; err != nil {
		return nil, 0, dbErr("store: list audit", err)
	}
	out := make([]model.AuditEntry, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, int(total), nil
}

// WriteAudit records an event that is not a store change (login, logout,
// run). Actor defaults to the one in ctx, At to now.
func (s *Store) WriteAudit(ctx context.Context, e *model.AuditEntry) error {
	if e.Action == "" || e.ObjectType == "" {
		return model.Invalid(map[string]string{"action": "is required"})
	}
	actor := e.Actor
	if actor == "" {
		actor = model.ActorFrom(ctx)
	}
	at := e.At
	if at.IsZero() {
		at = now()
	}
	r := auditRow{At: at.UTC(), Actor: actor, Action: e.Action, ObjectType: e.ObjectType, ObjectID: e.ObjectID,
		Summary: e.Summary, BeforeJSON: e.Before, AfterJSON: e.After,
		Search:  strings.ToLower(actor + "\n" + e.Action + "\n" + e.ObjectType + "\n" + e.Summary),
		TokenID: auditToken(ctx)}
	if err := s.db.WithContext(ctx).Create(&r).Error; err != nil {
		return dbErr("store: write audit", err)
	}
	e.ID, e.At, e.Actor = r.ID, r.At, r.Actor
	return nil
}
