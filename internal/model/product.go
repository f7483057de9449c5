package model

import "time"

type ProductKind string

const (
	ProductSCIM    ProductKind = "scim"
	ProductWebhook ProductKind = "webhook"
)

// Product is a downstream application that receives user changes (SPEC §9).
type Product struct {
	ID      int64
	Name    string
	Kind    ProductKind
	BaseURL string
	// Secret is the SCIM bearer token or the webhook HMAC key: plaintext in
	// memory only, encrypted at rest, never rendered back.
	Secret string
	// AttributeMap maps an enterprise attribute key to a SCIM enterprise
	// extension field (costCenter, organization, division, department, …).
	AttributeMap    map[string]string
	AllUsers        bool    // instance assignment: every user
	ServiceGroupIDs []int64 // else: members of these service groups
	Enabled         bool
	MaxConcurrency  int // default 4
	RatePerSecond   int // 0 = unlimited
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// DeliveryState is the level-triggered state of one (product, user) pair:
// the product should have WantedVersion and has DeliveredVersion.
type DeliveryState struct {
	ProductID        int64
	UserID           int64
	WantedVersion    int64
	DeliveredVersion int64
	Deleted          bool   // the user is gone; deliver a delete
	RemoteID         string // SCIM id at the product
	Attempts         int
	NextAttemptAt    time.Time
	LastError        string
}

// Delivery is one entry of a product's delivery log.
type Delivery struct {
	ID        int64
	ProductID int64
	UserID    int64
	Username  string
	Method    string
	URL       string
	Status    int // HTTP status, 0 when no answer
	Error     string
	LatencyMS int
	Request   string // body sent, secrets removed
	Response  string // first KiB of the answer
	At        time.Time
}
