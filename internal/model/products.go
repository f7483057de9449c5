package model

import (
	"context"
	"time"
)

// ProductCounts summarises a product's outbox for its page.
type ProductCounts struct {
	Pairs     int // (product, user) pairs known
	Pending   int // wanted version not delivered yet
	Failed    int // pending pairs whose last attempt failed
	Delivered int // pairs the product has in their latest version
	Attention int // pairs that need an admin's attention (not retried)
	// Service groups pushed as SCIM Groups (products with PushGroups).
	Groups        int
	GroupsPending int
}

// DeliveryClaim is one pending (product, user) pair leased to a dispatcher.
// Delivering it means bringing the product to the user's latest state.
type DeliveryClaim struct {
	DeliveryState
	Username      string
	Assigned      bool   // false: the user left the product's assignment → deactivate
	RemoteVersion string // SCIM ETag last seen, "" when the provider has none
	// DeliveredDoc is the representation last delivered (JSON, see the
	// products package); "" when unknown.
	DeliveredDoc string
}

// AttentionItem is a delivery that needs an admin (product page).
type AttentionItem struct {
	DeliveryState
	Username string
}

// DeliveryOutcome is what a dispatcher reports for one claim.
type DeliveryOutcome struct {
	ProductID     int64
	UserID        int64
	Version       int64 // the WantedVersion that was claimed
	OK            bool
	Gone          bool // the user no longer exists at the product (deleted)
	RemoteID      string
	RemoteVersion string
	Error         string        // failure reason, shown to admins
	RetryAfter    time.Duration // backoff chosen by the dispatcher when !OK
	Log           Delivery      // entry for the delivery log
	// Earlier is the failed exchanges of this delivery before the last
	// one (e.g. the POST answered 409 before the lookup), logged first.
	Earlier []Delivery
	// Doc is the representation now at the product (when OK).
	Doc string
	// Permanent: the failure will not go away by retrying (4xx other than
	// 404, 409, 412, 429); after the product's MaxAttempts it needs
	// attention. Attention: needs it at once (a conflict).
	Permanent bool
	Attention bool
	// Skipped: not tried at all (the product is paused); the pair is due
	// again after RetryAfter, with no attempt counted and no log entry.
	Skipped bool
}

// OutboxService is what the product dispatcher needs from the store.
type OutboxService interface {
	ListProducts(ctx context.Context) ([]Product, error)
	GetProduct(ctx context.Context, id int64) (*Product, error)
	// ClaimDeliveries leases up to limit due pairs of the product to owner
	// until now+lease; pairs leased to someone else are skipped.
	ClaimDeliveries(ctx context.Context, productID int64, owner string, limit int, lease time.Duration) ([]DeliveryClaim, error)
	// CompleteDeliveries records outcomes of claims held by owner and
	// releases them; a pair whose wanted version moved on stays pending.
	CompleteDeliveries(ctx context.Context, owner string, outcomes []DeliveryOutcome) error
	// UsersForDelivery loads the latest state of the given users (with
	// attributes); missing ids are absent from the map.
	UsersForDelivery(ctx context.Context, ids []int64) (map[int64]User, error)
	ProductCounts(ctx context.Context, productID int64) (ProductCounts, error)
	// ReleaseClaims ends every lease owner holds (on shutdown).
	ReleaseClaims(ctx context.Context, owner string) error
	// ReleaseProductClaims ends owner's leases on one product's pairs (its
	// runner stopped).
	ReleaseProductClaims(ctx context.Context, productID int64, owner string) error
	// SetProductFailing marks (reason != "") or clears the product's
	// "refuses idsync's credentials" state; it reports a change.
	SetProductFailing(ctx context.Context, productID int64, reason string) (bool, error)
	// PruneDeliveries keeps the newest keep log entries of the product.
	PruneDeliveries(ctx context.Context, productID int64, keep int) (int, error)
}
