package model

import "time"

// ProductKind is how a product receives changes.
type ProductKind string

// The product kinds: a SCIM 2.0 service provider or a signed webhook.
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
	// UpdateMode is how a SCIM user is updated: PATCH of the changed
	// attributes (default) or a full PUT.
	UpdateMode UpdateMode
	// PushGroups is reserved for pushing service groups as SCIM Groups
	// (issue 14 item 3, not built yet: no form field sets it, nothing
	// reads it).
	PushGroups bool
	// MaxAttempts is how many tries a delivery that fails permanently
	// (a 4xx other than 404, 409, 412, 429) gets before it needs an
	// admin's attention; default 5.
	MaxAttempts int
	// FailingSince is set (with FailingReason) while the product refuses
	// idsync's credentials (401 / 403); deliveries pause meanwhile.
	FailingSince  time.Time
	FailingReason string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// UpdateMode says how a SCIM product's users are updated.
type UpdateMode string

// The SCIM update modes: PATCH of the changed attributes, or a full PUT.
const (
	UpdatePatch UpdateMode = "patch"
	UpdatePut   UpdateMode = "put"
)

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
	// Attention: the delivery failed permanently (or conflicts with
	// someone else's account) and waits for an admin to retry or drop it.
	Attention bool
	// The last failed request and the provider's answer (for the page).
	LastStatus   int
	LastRequest  string
	LastResponse string
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
