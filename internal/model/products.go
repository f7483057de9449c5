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

// ProductService manages products and their outbox for the console.
type ProductService interface {
	ListProducts(ctx context.Context) ([]Product, error)
	// GetProduct returns the product with its Secret decrypted; ENOTFOUND.
	GetProduct(ctx context.Context, id int64) (*Product, error)
	CreateProduct(ctx context.Context, p *Product) error // sets p.ID
	// UpdateProduct keeps the stored secret when p.Secret is "".
	UpdateProduct(ctx context.Context, p *Product) error
	DeleteProduct(ctx context.Context, id int64) error
	ProductCounts(ctx context.Context, productID int64) (ProductCounts, error)
	ListDeliveries(ctx context.Context, productID int64, q ListQuery) ([]Delivery, int, error) // newest first
	// RetryFailed makes every failed pair of the product due now.
	RetryFailed(ctx context.Context, productID int64) (int, error)
	// MarkAllPending marks every assigned user of the given products (nil:
	// every enabled product) pending; returns the number of pairs marked.
	MarkAllPending(ctx context.Context, productIDs []int64) (int, error)
	// MarkUsersPending does the same for the given users only.
	MarkUsersPending(ctx context.Context, productIDs []int64, userIDs []int64) (int, error)
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
