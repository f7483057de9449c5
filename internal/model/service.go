package model

import (
	"context"
)

// internal/store implements every change on one *store.Store; its callers
// declare the small interfaces they use where they use them (web.Syncer,
// products' OutboxService, alerts.Store). Every mutating store method
// writes its audit entry in the same transaction, taking the actor from
// the context (WithActor). Not-found is ENOTFOUND, a taken unique value
// ECONFLICT with Fields set, bad input EINVALID.

type actorKey struct{}

// WithActor returns ctx carrying the name recorded in audit entries.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor carried by ctx, or "system".
func ActorFrom(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "system"
}
