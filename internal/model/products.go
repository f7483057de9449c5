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
}

// DeliveryClaim is one pending (product, user) pair leased to a dispatcher.
// Delivering it means bringing the product to the user's latest state.
type DeliveryClaim struct {
	DeliveryState
	Username      string
	Assigned      bool   // false: the user left the product's assignment → deactivate
	RemoteVersion string // SCIM ETag last seen, "" when the provider has none
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
	// PruneDeliveries keeps the newest keep log entries of the product.
	PruneDeliveries(ctx context.Context, productID int64, keep int) (int, error)
}
