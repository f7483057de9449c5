package store

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

type productRow struct {
	ID             int64 `gorm:"primaryKey"`
	Name           string
	Kind           string
	BaseURL        string `gorm:"column:base_url"`
	SecretSealed   string
	AttributeMap   string
	AllUsers       bool
	Enabled        bool
	MaxConcurrency int
	RatePerSecond  int
	UpdateMode     string
	PushGroups     bool
	MaxAttempts    int
	FailingSince   int64
	FailingReason  string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

func (productRow) TableName() string { return "products" }

type productGroupRow struct {
	ProductID      int64 `gorm:"primaryKey"`
	ServiceGroupID int64 `gorm:"primaryKey"`
}

func (productGroupRow) TableName() string { return "product_service_groups" }

func (r *productRow) model() model.Product {
	p := model.Product{
		ID: r.ID, Name: r.Name, Kind: model.ProductKind(r.Kind), BaseURL: r.BaseURL,
		AllUsers: r.AllUsers, Enabled: r.Enabled, MaxConcurrency: r.MaxConcurrency,
		RatePerSecond: r.RatePerSecond, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		UpdateMode: model.UpdateMode(r.UpdateMode), PushGroups: r.PushGroups, MaxAttempts: r.MaxAttempts,
		FailingReason: r.FailingReason,
	}
	if r.FailingSince > 0 {
		p.FailingSince = time.UnixMilli(r.FailingSince).UTC()
	}
	if p.UpdateMode == "" {
		p.UpdateMode = model.UpdatePatch
	}
	_ = json.Unmarshal([]byte(r.AttributeMap), &p.AttributeMap)
	if p.AttributeMap == nil {
		p.AttributeMap = map[string]string{}
	}
	return p
}

// productAudit is what the audit log keeps of a product: never the secret.
func productAudit(p *model.Product) map[string]any {
	return map[string]any{
		"name": p.Name, "kind": p.Kind, "base_url": p.BaseURL, "attribute_map": p.AttributeMap,
		"all_users": p.AllUsers, "service_group_ids": p.ServiceGroupIDs, "enabled": p.Enabled,
		"max_concurrency": p.MaxConcurrency, "rate_per_second": p.RatePerSecond,
		"update_mode": p.UpdateMode, "push_groups": p.PushGroups, "max_attempts": p.MaxAttempts,
	}
}

// normalizeProduct trims and checks p. URL reachability rules (loopback,
// link-local, metadata) are the products package's URLPolicy, applied by
// the caller before saving; here only the shape is checked.
func normalizeProduct(p *model.Product, creating bool) error {
	f := fields{}
	p.Name = strings.TrimSpace(p.Name)
	p.BaseURL = strings.TrimRight(strings.TrimSpace(p.BaseURL), "/")
	f.text("name", p.Name, true, maxName)
	switch p.Kind {
	case model.ProductSCIM, model.ProductWebhook:
	default:
		f.add("kind", "must be SCIM 2.0 or webhook")
	}
	if u, err := url.Parse(p.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		f.add("base_url", "must be an http:// or https:// URL")
	}
	f.text("base_url", p.BaseURL, true, maxText)
	if strings.IndexFunc(p.Secret, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		f.add("secret", "must not contain control characters")
	}
	if creating && p.Kind == model.ProductWebhook && p.Secret == "" {
		f.add("secret", "is required: webhooks are signed with it")
	}
	if p.MaxConcurrency == 0 {
		p.MaxConcurrency = 4
	}
	if p.MaxConcurrency < 1 || p.MaxConcurrency > 64 {
		f.add("max_concurrency", "must be between 1 and 64")
	}
	switch p.UpdateMode {
	case "":
		p.UpdateMode = model.UpdatePatch
	case model.UpdatePatch, model.UpdatePut:
	default:
		f.add("update_mode", "must be PATCH or PUT")
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = 5
	}
	if p.MaxAttempts < 1 || p.MaxAttempts > 100 {
		f.add("max_attempts", "must be between 1 and 100")
	}
	if p.RatePerSecond < 0 || p.RatePerSecond > 100000 {
		f.add("rate_per_second", "must be between 0 (unlimited) and 100000")
	}
	if !p.AllUsers && len(p.ServiceGroupIDs) == 0 {
		f.add("service_group_ids", "choose at least one service group, or assign all users")
	}
	if p.AllUsers {
		p.ServiceGroupIDs = nil
	}
	slices.Sort(p.ServiceGroupIDs)
	p.ServiceGroupIDs = slices.Compact(p.ServiceGroupIDs)
	clean := map[string]string{}
	for k, v := range p.AttributeMap {
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "" || v == "" {
			continue
		}
		clean[k] = v
	}
	p.AttributeMap = clean
	return f.err()
}

func (s *Store) productGroups(db *gorm.DB, ids []int64) (map[int64][]int64, error) {
	var rows []productGroupRow
	if err := db.Where("product_id IN ?", ids).Order("product_id, service_group_id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: product service groups: %w", err)
	}
	out := map[int64][]int64{}
	for _, r := range rows {
		out[r.ProductID] = append(out[r.ProductID], r.ServiceGroupID)
	}
	return out, nil
}

// ListProducts returns every product by name, without secrets.
func (s *Store) ListProducts(ctx context.Context) ([]model.Product, error) {
	db := s.db.WithContext(ctx)
	var rows []productRow
	if err := db.Order("lower(name), id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: list products: %w", err)
	}
	ids := make([]int64, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	groups, err := s.productGroups(db, ids)
	if err != nil {
		return nil, err
	}
	out := make([]model.Product, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
		out[i].ServiceGroupIDs = groups[rows[i].ID]
	}
	return out, nil
}

// GetProduct returns the product with its secret decrypted, or ENOTFOUND.
func (s *Store) GetProduct(ctx context.Context, id int64) (*model.Product, error) {
	db := s.db.WithContext(ctx)
	var r productRow
	if err := db.Take(&r, id).Error; err != nil {
		return nil, dbErrNotFound("store: get product", err, "Product", id)
	}
	p := r.model()
	groups, err := s.productGroups(db, []int64{id})
	if err != nil {
		return nil, err
	}
	p.ServiceGroupIDs = groups[id]
	if r.SecretSealed != "" {
		if p.Secret, err = s.box.Open(r.SecretSealed); err != nil {
			return nil, fmt.Errorf("store: get product %d: open secret: %w", id, err)
		}
	}
	return &p, nil
}

func (s *Store) productToRow(p *model.Product) (productRow, error) {
	am, err := json.Marshal(p.AttributeMap)
	if err != nil {
		return productRow{}, fmt.Errorf("store: product attribute map: %w", err)
	}
	r := productRow{
		ID: p.ID, Name: p.Name, Kind: string(p.Kind), BaseURL: p.BaseURL, AttributeMap: string(am),
		AllUsers: p.AllUsers, Enabled: p.Enabled, MaxConcurrency: p.MaxConcurrency,
		RatePerSecond: p.RatePerSecond, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		UpdateMode: string(p.UpdateMode), PushGroups: p.PushGroups, MaxAttempts: p.MaxAttempts,
	}
	if p.Secret != "" {
		if r.SecretSealed, err = s.box.Seal(p.Secret); err != nil {
			return productRow{}, fmt.Errorf("store: seal product secret: %w", err)
		}
	}
	return r, nil
}

func checkProductName(tx *gorm.DB, p *model.Product) error {
	var n int64
	if err := tx.Model(&productRow{}).Where("lower(name) = ? AND id <> ?", strings.ToLower(p.Name), p.ID).Count(&n).Error; err != nil {
		return fmt.Errorf("store: check product name: %w", err)
	}
	if n > 0 {
		return &model.Error{Code: model.ECONFLICT, Message: "Please correct the highlighted fields.",
			Fields: map[string]string{"name": "is already taken"}}
	}
	return nil
}

func writeProductGroups(tx *gorm.DB, p *model.Product) error {
	if err := tx.Where("product_id = ?", p.ID).Delete(&productGroupRow{}).Error; err != nil {
		return fmt.Errorf("store: product service groups: %w", err)
	}
	if len(p.ServiceGroupIDs) == 0 {
		return nil
	}
	var n int64
	if err := tx.Table("service_groups").Where("id IN ?", p.ServiceGroupIDs).Count(&n).Error; err != nil {
		return fmt.Errorf("store: product service groups: %w", err)
	}
	if int(n) != len(p.ServiceGroupIDs) {
		return model.Invalid(map[string]string{"service_group_ids": "a chosen service group does not exist"})
	}
	rows := make([]productGroupRow, len(p.ServiceGroupIDs))
	for i, g := range p.ServiceGroupIDs {
		rows[i] = productGroupRow{ProductID: p.ID, ServiceGroupID: g}
	}
	if err := tx.Create(&rows).Error; err != nil {
		return fmt.Errorf("store: product service groups: %w", err)
	}
	return nil
}

// CreateProduct validates and inserts p (secret sealed) and sets p.ID. With
// automatic product sync on, an enabled product's assigned users are
// marked pending at once (instance assignment triggers the sync).
func (s *Store) CreateProduct(ctx context.Context, p *model.Product) error {
	if err := normalizeProduct(p, true); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := checkProductName(tx, p); err != nil {
			return err
		}
		p.CreatedAt, p.UpdatedAt = now(), now()
		p.ID = 0
		r, err := s.productToRow(p)
		if err != nil {
			return err
		}
		if err := tx.Create(&r).Error; err != nil {
			return dbErr("store: create product", err)
		}
		p.ID = r.ID
		if err := writeProductGroups(tx, p); err != nil {
			return err
		}
		if p.Enabled {
			if err := autoMarkProduct(tx, p.ID); err != nil {
				return err
			}
		}
		return audit(ctx, tx, "create", "product", p.ID, "created product "+p.Name, nil, productAudit(p))
	})
}

// UpdateProduct saves p; an empty p.Secret keeps the stored secret. When
// the assignment changes (or the product is switched on) and automatic
// product sync is on, the product's users are marked pending: users who
// left the assignment get a deactivation.
func (s *Store) UpdateProduct(ctx context.Context, p *model.Product) error {
	if err := normalizeProduct(p, false); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		var old productRow
		if err := tx.Take(&old, p.ID).Error; err != nil {
			return dbErrNotFound("store: update product", err, "Product", p.ID)
		}
		if err := checkProductName(tx, p); err != nil {
			return err
		}
		groups, err := s.productGroups(tx, []int64{p.ID})
		if err != nil {
			return err
		}
		before := old.model()
		before.ServiceGroupIDs = groups[p.ID]
		if p.Secret == "" && old.SecretSealed != "" && !model.ProductSecretReusable(&before, p) {
			return model.Invalid(map[string]string{"secret": model.MsgProductSecretAgain})
		}
		p.CreatedAt, p.UpdatedAt = old.CreatedAt, now()
		r, err := s.productToRow(p)
		if err != nil {
			return err
		}
		if p.Secret == "" {
			r.SecretSealed = old.SecretSealed
		}
		// Saving clears "failing": the runner restarts and tries again.
		r.FailingSince, r.FailingReason = 0, ""
		if err := tx.Select("*").Omit("created_at").Save(&r).Error; err != nil {
			return dbErr("store: update product", err)
		}
		if err := writeProductGroups(tx, p); err != nil {
			return err
		}
		assignmentChanged := before.AllUsers != p.AllUsers || !slices.Equal(before.ServiceGroupIDs, p.ServiceGroupIDs) ||
			(!before.Enabled && p.Enabled)
		if p.Enabled && assignmentChanged {
			if err := autoMarkProduct(tx, p.ID); err != nil {
				return err
			}
		}
		summary := "updated product " + p.Name
		if p.Secret != "" {
			summary += " (secret changed)"
		}
		return audit(ctx, tx, "update", "product", p.ID, summary, productAudit(&before), productAudit(p))
	})
}

// SetProductFailing marks the product as refusing idsync's credentials
// (reason != "") or clears the mark (reason == ""), without touching
// updated_at (which would restart its runner). It reports whether the state
// changed; a change is audited.
func (s *Store) SetProductFailing(ctx context.Context, id int64, reason string) (bool, error) {
	var changed bool
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var res *gorm.DB
		if reason == "" {
			res = tx.Exec(`UPDATE products SET failing_since = 0, failing_reason = '' WHERE id = ? AND failing_since <> 0`, id)
		} else {
			res = tx.Exec(`UPDATE products SET failing_since = ?, failing_reason = ? WHERE id = ? AND failing_since = 0`,
				time.Now().UnixMilli(), truncateText(reason, 1000), id)
		}
		if res.Error != nil {
			return fmt.Errorf("store: product %d failing: %w", id, res.Error)
		}
		changed = res.RowsAffected > 0
		if !changed {
			return nil
		}
		if reason == "" {
			return audit(ctx, tx, "recovered", "product", id, "product accepts idsync's credentials again", nil, nil)
		}
		return audit(ctx, tx, "failing", "product", id, "product refuses idsync's credentials: "+truncateText(reason, 300), nil, nil)
	})
	return changed, err
}

// DeleteProduct removes the product with its outbox and log, or ENOTFOUND.
func (s *Store) DeleteProduct(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var old productRow
		if err := tx.Take(&old, id).Error; err != nil {
			return dbErrNotFound("store: delete product", err, "Product", id)
		}
		// explicit deletes: SQLite connections may have foreign keys off
		for _, t := range []string{"product_deliveries", "product_user_state", "product_service_groups"} {
			if err := tx.Exec("DELETE FROM "+t+" WHERE product_id = ?", id).Error; err != nil {
				return fmt.Errorf("store: delete product %d: %s: %w", id, t, err)
			}
		}
		if err := tx.Delete(&productRow{}, id).Error; err != nil {
			return dbErr("store: delete product", err)
		}
		p := old.model()
		return audit(ctx, tx, "delete", "product", id, "deleted product "+old.Name, productAudit(&p), nil)
	})
}
