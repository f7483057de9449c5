package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

// The product outbox is level-triggered: product_user_state holds, per
// (product, user), the version the product should have (wanted_version) and
// the one it has (delivered_version). Changes raise wanted_version in the
// transaction of the change; the dispatcher delivers the latest state of
// every pair where wanted > delivered. A crash between commit and delivery
// therefore loses nothing, and many changes to one user collapse into one
// delivery of its newest state.

// bumpProductVersions is called in the transaction of every user create,
// update and delete (and membership change), after users.version has been
// bumped, with the ids of the users concerned; deleted is true for a delete,
// in which case it is called before the user row is removed. It raises
// each assigned product's wanted version for these users (SPEC §9); users
// who left a product's assignment are marked for deactivation. With
// Settings.AutoProductSync off it does nothing (manual sync still works).
// An error aborts the whole change.
func bumpProductVersions(tx *gorm.DB, userIDs []int64, deleted bool) error {
	if len(userIDs) == 0 {
		return nil
	}
	on, err := autoProductSync(tx)
	if err != nil || !on {
		return err
	}
	for chunk := range slices.Chunk(userIDs, 5000) {
		if deleted {
			// A pair that never reached the product — nothing delivered,
			// no remote id, and either never tried or refused with a 4xx
			// (so nothing was created there) — is resolved by the delete
			// itself; a pair in flight is left to its claim.
			err := tx.Exec(`DELETE FROM product_user_state WHERE user_id IN ? AND NOT deleted
				AND delivered_version = 0 AND remote_id = '' AND locked_until <= ?
				AND (attempts = 0 OR attention OR (last_status >= 400 AND last_status < 500))`,
				chunk, time.Now().UnixMilli()).Error
			if err != nil {
				return fmt.Errorf("store: products: resolve undelivered: %w", err)
			}
			// The others need a delete at the product.
			err = tx.Exec(`UPDATE product_user_state SET deleted = TRUE, wanted_version = wanted_version + 1,
				attempts = 0, next_attempt_at = 0, last_error = '', attention = FALSE
				WHERE user_id IN ? AND NOT deleted`, chunk).Error
			if err != nil {
				return fmt.Errorf("store: products: mark deleted: %w", err)
			}
			continue
		}
		if _, err := markPending(tx, nil, chunk); err != nil {
			return err
		}
	}
	return nil
}

func autoProductSync(tx *gorm.DB) (bool, error) {
	var vals []string
	if err := tx.Raw("SELECT value FROM settings WHERE key = 'auto_product_sync'").Scan(&vals).Error; err != nil {
		return false, fmt.Errorf("store: products: read auto_product_sync: %w", err)
	}
	return len(vals) == 0 || vals[0] != "false", nil
}

// autoMarkProduct marks a product's users pending when automatic product
// sync is on (a new product, or a changed assignment).
func autoMarkProduct(tx *gorm.DB, productID int64) error {
	on, err := autoProductSync(tx)
	if err != nil || !on {
		return err
	}
	_, err = markPending(tx, []int64{productID}, nil)
	return err
}

// assignedSQL is true when user u is assigned to product p.
const assignedSQL = `(p.all_users OR EXISTS (SELECT 1 FROM product_service_groups psg
	JOIN service_group_members m ON m.service_group_id = psg.service_group_id
	WHERE psg.product_id = p.id AND m.user_id = u.id))`

// markPending raises the wanted version of the (product, user) pairs of
// enabled products in productIDs (nil: all) and users in userIDs (nil: all),
// in two statements whatever the number of users: assigned users are
// upserted, pairs whose user left the assignment are marked to deactivate.
// It returns the number of pairs marked.
func markPending(tx *gorm.DB, productIDs, userIDs []int64) (int, error) {
	var (
		where []string
		args  []any
	)
	where = append(where, "p.enabled")
	if productIDs != nil {
		if len(productIDs) == 0 {
			return 0, nil
		}
		where = append(where, "p.id IN ?")
		args = append(args, productIDs)
	}
	if userIDs != nil {
		if len(userIDs) == 0 {
			return 0, nil
		}
		where = append(where, "u.id IN ?")
		args = append(args, userIDs)
	}
	where = append(where, assignedSQL)
	res := tx.Exec(`INSERT INTO product_user_state (product_id, user_id, username, wanted_version, assigned, deleted, next_attempt_at)
		SELECT p.id, u.id, u.username, u.version, TRUE, FALSE, 0
		FROM products p CROSS JOIN users u
		WHERE `+strings.Join(where, " AND ")+`
		ON CONFLICT (product_id, user_id) DO UPDATE SET
			username = excluded.username,
			wanted_version = CASE WHEN excluded.wanted_version > product_user_state.wanted_version
				THEN excluded.wanted_version ELSE product_user_state.wanted_version + 1 END,
			assigned = TRUE, deleted = FALSE, attempts = 0, next_attempt_at = 0, last_error = '', attention = FALSE`, args...)
	if res.Error != nil {
		return 0, fmt.Errorf("store: products: mark pending: %w", res.Error)
	}
	n := int(res.RowsAffected)

	// Pairs of enabled products whose user is no longer assigned: deactivate.
	uwhere := []string{"s.assigned", "NOT s.deleted",
		"s.product_id IN (SELECT id FROM products WHERE enabled AND NOT all_users)"}
	var uargs []any
	if productIDs != nil {
		uwhere = append(uwhere, "s.product_id IN ?")
		uargs = append(uargs, productIDs)
	}
	if userIDs != nil {
		uwhere = append(uwhere, "s.user_id IN ?")
		uargs = append(uargs, userIDs)
	}
	uwhere = append(uwhere, `NOT EXISTS (SELECT 1 FROM product_service_groups psg
		JOIN service_group_members m ON m.service_group_id = psg.service_group_id
		WHERE psg.product_id = s.product_id AND m.user_id = s.user_id)`)
	res = tx.Exec(`UPDATE product_user_state SET assigned = FALSE, wanted_version = wanted_version + 1,
		attempts = 0, next_attempt_at = 0, last_error = '', attention = FALSE
		WHERE (product_id, user_id) IN (SELECT s.product_id, s.user_id FROM product_user_state s WHERE `+
		strings.Join(uwhere, " AND ")+`)`, uargs...)
	if res.Error != nil {
		return 0, fmt.Errorf("store: products: mark unassigned: %w", res.Error)
	}
	return n + int(res.RowsAffected), nil
}

// MarkAllPending marks every assigned user of the given enabled products
// (nil or empty: every enabled product) pending, in one transaction, and
// records it in the audit log. Manual sync works with automatic sync off.
func (s *Store) MarkAllPending(ctx context.Context, productIDs []int64) (int, error) {
	if len(productIDs) == 0 {
		productIDs = nil
	}
	var n int
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var err error
		if n, err = markPending(tx, productIDs, nil); err != nil {
			return err
		}
		return audit(ctx, tx, "sync_all", "product", singleID(productIDs),
			fmt.Sprintf("sync all users to %s: %d pairs marked", productsLabel(productIDs), n), nil, nil)
	})
	return n, err
}

// MarkUsersPending marks the given users pending for the given products
// (nil or empty: every enabled product they are assigned to).
func (s *Store) MarkUsersPending(ctx context.Context, productIDs []int64, userIDs []int64) (int, error) {
	if len(productIDs) == 0 {
		productIDs = nil
	}
	if len(userIDs) == 0 {
		return 0, model.Invalid(map[string]string{"user_ids": "select at least one user"})
	}
	var n int
	err := s.tx(ctx, func(tx *gorm.DB) error {
		for chunk := range slices.Chunk(userIDs, 5000) {
			m, err := markPending(tx, productIDs, chunk)
			if err != nil {
				return err
			}
			n += m
		}
		return audit(ctx, tx, "sync_users", "product", singleID(productIDs),
			fmt.Sprintf("sync %d selected users to %s: %d pairs marked", len(userIDs), productsLabel(productIDs), n), nil, nil)
	})
	return n, err
}

func singleID(ids []int64) int64 {
	if len(ids) == 1 {
		return ids[0]
	}
	return 0
}

func productsLabel(ids []int64) string {
	if len(ids) == 0 {
		return "all products"
	}
	return fmt.Sprintf("products %v", ids)
}

type claimRow struct {
	ProductID        int64
	UserID           int64
	Username         string
	WantedVersion    int64
	DeliveredVersion int64
	Assigned         bool
	Deleted          bool
	RemoteID         string
	RemoteVersion    string
	Attempts         int
	NextAttemptAt    int64
	LastError        string
	DeliveredDoc     string
	Attention        bool
	LastStatus       int
	LastRequest      string
	LastResponse     string
}

const claimCols = "product_id, user_id, username, wanted_version, delivered_version, assigned, deleted, remote_id, remote_version, attempts, next_attempt_at, last_error, delivered_doc, attention, last_status, last_request, last_response"

func (r *claimRow) state() model.DeliveryState {
	return model.DeliveryState{ProductID: r.ProductID, UserID: r.UserID, WantedVersion: r.WantedVersion,
		DeliveredVersion: r.DeliveredVersion, Deleted: r.Deleted, RemoteID: r.RemoteID, Attempts: r.Attempts,
		NextAttemptAt: time.UnixMilli(r.NextAttemptAt).UTC(), LastError: r.LastError, Attention: r.Attention,
		LastStatus: r.LastStatus, LastRequest: r.LastRequest, LastResponse: r.LastResponse}
}

// ClaimDeliveries leases up to limit due pending pairs of a product to
// owner until now+lease. On PostgreSQL rows locked by another replica's
// claim are skipped (FOR UPDATE SKIP LOCKED); on SQLite the single UPDATE
// runs under the database write lock. A leased pair is not claimable until
// its lease ends, so one pair is never delivered twice at once.
func (s *Store) ClaimDeliveries(ctx context.Context, productID int64, owner string, limit int, lease time.Duration) ([]model.DeliveryClaim, error) {
	nowMS := time.Now().UnixMilli()
	until := nowMS + lease.Milliseconds()
	var rows []claimRow
	var q string
	if s.dialect == DialectPostgres {
		// MATERIALIZED: the picked rows are computed once; as a plain
		// subquery the planner may re-run it per joined row (seen: minutes
		// on 100k pending pairs).
		q = `WITH c AS MATERIALIZED (SELECT product_id, user_id FROM product_user_state
				WHERE product_id = ? AND wanted_version > delivered_version AND next_attempt_at <= ? AND locked_until <= ?
					AND NOT attention
				ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED)
			UPDATE product_user_state s SET locked_until = ?, lock_owner = ?
			FROM c
			WHERE s.product_id = c.product_id AND s.user_id = c.user_id
			RETURNING s.product_id, s.user_id, s.username, s.wanted_version, s.delivered_version, s.assigned, s.deleted,
				s.remote_id, s.remote_version, s.attempts, s.next_attempt_at, s.last_error, s.delivered_doc`
	} else {
		q = `UPDATE product_user_state SET locked_until = ?, lock_owner = ?
			WHERE (product_id, user_id) IN (SELECT product_id, user_id FROM product_user_state
				WHERE product_id = ? AND wanted_version > delivered_version AND next_attempt_at <= ? AND locked_until <= ?
					AND NOT attention
				ORDER BY next_attempt_at LIMIT ?)
			RETURNING product_id, user_id, username, wanted_version, delivered_version, assigned, deleted,
				remote_id, remote_version, attempts, next_attempt_at, last_error, delivered_doc`
	}
	args := []any{until, owner, productID, nowMS, nowMS, limit}
	if s.dialect == DialectPostgres {
		args = []any{productID, nowMS, nowMS, limit, until, owner}
	}
	if err := s.db.WithContext(ctx).Raw(q, args...).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: claim deliveries for product %d: %w", productID, err)
	}
	out := make([]model.DeliveryClaim, len(rows))
	for i, r := range rows {
		out[i] = model.DeliveryClaim{
			DeliveryState: model.DeliveryState{
				ProductID: r.ProductID, UserID: r.UserID, WantedVersion: r.WantedVersion,
				DeliveredVersion: r.DeliveredVersion, Deleted: r.Deleted, RemoteID: r.RemoteID,
				Attempts: r.Attempts, NextAttemptAt: time.UnixMilli(r.NextAttemptAt).UTC(), LastError: r.LastError,
			},
			Username: r.Username, Assigned: r.Assigned, RemoteVersion: r.RemoteVersion, DeliveredDoc: r.DeliveredDoc,
		}
	}
	return out, nil
}

type deliveryRow struct {
	ID        int64 `gorm:"primaryKey"`
	ProductID int64
	UserID    int64
	Username  string
	Method    string
	URL       string `gorm:"column:url"`
	Status    int
	Error     string
	LatencyMS int `gorm:"column:latency_ms"`
	Request   string
	Response  string
	At        time.Time
}

func (deliveryRow) TableName() string { return "product_deliveries" }

// CompleteDeliveries records the outcomes of owner's claims in one
// transaction and releases them. A delivered pair gets delivered_version =
// the version claimed: if the user changed meanwhile it stays pending.
// A failed pair is retried after o.RetryAfter, unless it needs attention:
// at once (o.Attention) or after the product's max_attempts permanent
// failures (o.Permanent). A delivered delete removes the pair.
func (s *Store) CompleteDeliveries(ctx context.Context, owner string, outcomes []model.DeliveryOutcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	nowMS := time.Now().UnixMilli()
	return s.tx(ctx, func(tx *gorm.DB) error {
		logs := make([]deliveryRow, 0, len(outcomes))
		if s.dialect == DialectPostgres {
			if err := completeBulkPostgres(tx, owner, nowMS, outcomes); err != nil {
				return err
			}
		}
		var gone []model.DeliveryOutcome
		for _, o := range outcomes {
			var err error
			switch {
			case s.dialect == DialectPostgres:
				// done above in one statement
			case o.Skipped:
				err = tx.Exec(`UPDATE product_user_state SET next_attempt_at = ?, locked_until = 0, lock_owner = ''
					WHERE product_id = ? AND user_id = ? AND lock_owner = ?`,
					nowMS+o.RetryAfter.Milliseconds(), o.ProductID, o.UserID, owner).Error
			case o.OK:
				err = tx.Exec(`UPDATE product_user_state SET
					delivered_version = CASE WHEN ? > delivered_version THEN ? ELSE delivered_version END,
					remote_id = ?, remote_version = ?, attempts = 0, last_error = '', next_attempt_at = 0,
					locked_until = 0, lock_owner = '', delivered_doc = ?, attention = FALSE,
					last_status = 0, last_request = '', last_response = ''
					WHERE product_id = ? AND user_id = ? AND lock_owner = ?`,
					o.Version, o.Version, o.RemoteID, o.RemoteVersion, o.Doc, o.ProductID, o.UserID, owner).Error
			default:
				err = tx.Exec(`UPDATE product_user_state SET
					remote_id = ?, remote_version = ?, attempts = attempts + 1, last_error = ?, next_attempt_at = ?,
					locked_until = 0, lock_owner = '',
					attention = (? OR (? AND attempts + 1 >= (SELECT max_attempts FROM products WHERE id = product_id))),
					last_status = ?, last_request = ?, last_response = ?
					WHERE product_id = ? AND user_id = ? AND lock_owner = ?`,
					o.RemoteID, o.RemoteVersion, truncateText(o.Error, 1000), nowMS+o.RetryAfter.Milliseconds(),
					o.Attention, o.Permanent, o.Log.Status, truncateText(o.Log.Request, 4096), truncateText(o.Log.Response, 4096),
					o.ProductID, o.UserID, owner).Error
			}
			if err != nil {
				return fmt.Errorf("store: complete delivery %d/%d: %w", o.ProductID, o.UserID, err)
			}
			if o.OK && o.Gone {
				gone = append(gone, o)
			}
			if o.Skipped {
				continue
			}
			for _, l := range append(o.Earlier, o.Log) {
				at := l.At
				if at.IsZero() {
					at = now()
				}
				logs = append(logs, deliveryRow{
					ProductID: o.ProductID, UserID: o.UserID, Username: l.Username, Method: l.Method, URL: l.URL,
					Status: l.Status, Error: truncateText(l.Error, 1000), LatencyMS: l.LatencyMS,
					Request: truncateText(l.Request, 4096), Response: truncateText(l.Response, 4096), At: at.UTC(),
				})
			}
		}
		// A delete delivered for a user idsync no longer has ends the pair
		// (unless the user came back meanwhile: wanted moved on).
		for _, o := range gone {
			if err := tx.Exec(`DELETE FROM product_user_state WHERE product_id = ? AND user_id = ? AND deleted
				AND delivered_version >= wanted_version AND lock_owner = ''`, o.ProductID, o.UserID).Error; err != nil {
				return fmt.Errorf("store: end deleted pair: %w", err)
			}
		}
		if err := tx.CreateInBatches(&logs, 500).Error; err != nil {
			return fmt.Errorf("store: delivery log: %w", err)
		}
		return nil
	})
}

// completeBulkPostgres records many outcomes in one UPDATE … FROM (VALUES …):
// one round trip instead of one per pair.
func completeBulkPostgres(tx *gorm.DB, owner string, nowMS int64, outcomes []model.DeliveryOutcome) error {
	for chunk := range slices.Chunk(outcomes, 400) {
		var b strings.Builder
		args := make([]any, 0, len(chunk)*15+1)
		for i, o := range chunk {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("(CAST(? AS BIGINT),CAST(? AS BIGINT),CAST(? AS BIGINT),CAST(? AS BOOLEAN),CAST(? AS TEXT),CAST(? AS TEXT),CAST(? AS TEXT),CAST(? AS BIGINT)," +
				"CAST(? AS TEXT),CAST(? AS BOOLEAN),CAST(? AS BOOLEAN),CAST(? AS INTEGER),CAST(? AS TEXT),CAST(? AS TEXT),CAST(? AS BOOLEAN))")
			next := int64(0)
			if o.Skipped {
				next = nowMS + o.RetryAfter.Milliseconds()
			}
			var status int
			var req, resp string
			if !o.OK {
				next = nowMS + o.RetryAfter.Milliseconds()
				status, req, resp = o.Log.Status, truncateText(o.Log.Request, 4096), truncateText(o.Log.Response, 4096)
			}
			args = append(args, o.ProductID, o.UserID, o.Version, o.OK, o.RemoteID, o.RemoteVersion, truncateText(o.Error, 1000), next,
				o.Doc, o.Attention, o.Permanent, status, req, resp, o.Skipped)
		}
		args = append(args, owner)
		err := tx.Exec(`UPDATE product_user_state s SET
			delivered_version = CASE WHEN v.ok AND v.version > s.delivered_version THEN v.version ELSE s.delivered_version END,
			remote_id = CASE WHEN v.skipped THEN s.remote_id ELSE v.remote_id END,
			remote_version = CASE WHEN v.skipped THEN s.remote_version ELSE v.remote_version END,
			attempts = CASE WHEN v.ok THEN 0 WHEN v.skipped THEN s.attempts ELSE s.attempts + 1 END,
			last_error = CASE WHEN v.ok THEN '' WHEN v.skipped THEN s.last_error ELSE v.err END,
			next_attempt_at = v.next_at, locked_until = 0, lock_owner = '',
			delivered_doc = CASE WHEN v.ok THEN v.doc ELSE s.delivered_doc END,
			attention = NOT v.ok AND NOT v.skipped AND (v.attention OR (v.permanent AND s.attempts + 1 >= p.max_attempts)),
			last_status = CASE WHEN v.skipped THEN s.last_status ELSE v.status END,
			last_request = CASE WHEN v.skipped THEN s.last_request ELSE v.req END,
			last_response = CASE WHEN v.skipped THEN s.last_response ELSE v.resp END
			FROM (VALUES `+b.String()+`) AS v(product_id, user_id, version, ok, remote_id, remote_version, err, next_at,
				doc, attention, permanent, status, req, resp, skipped), products p
			WHERE s.product_id = v.product_id AND s.user_id = v.user_id AND s.lock_owner = ? AND p.id = s.product_id`, args...).Error
		if err != nil {
			return fmt.Errorf("store: complete deliveries: %w", err)
		}
	}
	return nil
}

// PruneDeliveries deletes all but the newest keep delivery log entries of
// the product and returns how many went.
func (s *Store) PruneDeliveries(ctx context.Context, productID int64, keep int) (int, error) {
	res := s.db.WithContext(ctx).Exec(`DELETE FROM product_deliveries WHERE product_id = ? AND id <
		(SELECT id FROM (SELECT id FROM product_deliveries WHERE product_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?) AS k)`,
		productID, productID, keep-1)
	if res.Error != nil {
		return 0, fmt.Errorf("store: prune deliveries of product %d: %w", productID, res.Error)
	}
	return int(res.RowsAffected), nil
}

// ReleaseClaims ends every lease held by owner (on shutdown), so another
// dispatcher can take the pairs at once instead of after the lease.
func (s *Store) ReleaseClaims(ctx context.Context, owner string) error {
	for _, t := range []string{"product_user_state", "product_group_state"} {
		err := s.db.WithContext(ctx).Exec(`UPDATE `+t+` SET locked_until = 0, lock_owner = ''
			WHERE lock_owner = ?`, owner).Error
		if err != nil {
			return fmt.Errorf("store: release claims: %w", err)
		}
	}
	return nil
}

// ReleaseProductClaims ends the leases owner holds on one product's pairs
// (its runner stopped, e.g. because the product was saved), so that they
// are delivered at once instead of after the lease.
func (s *Store) ReleaseProductClaims(ctx context.Context, productID int64, owner string) error {
	db := s.db.WithContext(ctx)
	for _, t := range []string{"product_user_state", "product_group_state"} {
		if err := db.Exec(`UPDATE `+t+` SET locked_until = 0, lock_owner = ''
			WHERE product_id = ? AND lock_owner = ?`, productID, owner).Error; err != nil {
			return fmt.Errorf("store: release claims of product %d: %w", productID, err)
		}
	}
	return nil
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// cut on a rune boundary
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// ProductCounts counts a product's pairs of existing users (pairs waiting
// to deliver a delete count as pending only): all, pending, failed
// (pending after a failed attempt), needing attention, and delivered; and
// its pushed groups.
func (s *Store) ProductCounts(ctx context.Context, productID int64) (model.ProductCounts, error) {
	var c struct {
		Pairs     int
		Pending   int
		Failed    int
		Attention int
		Delivered int
	}
	// One pass over the product's rows.
	err := s.db.WithContext(ctx).Raw(`SELECT
			COALESCE(SUM(CASE WHEN NOT deleted THEN 1 ELSE 0 END), 0) AS pairs,
			COALESCE(SUM(CASE WHEN wanted_version > delivered_version AND NOT attention THEN 1 ELSE 0 END), 0) AS pending,
			COALESCE(SUM(CASE WHEN wanted_version > delivered_version AND attempts > 0 AND NOT attention THEN 1 ELSE 0 END), 0) AS failed,
			COALESCE(SUM(CASE WHEN attention THEN 1 ELSE 0 END), 0) AS attention,
			COALESCE(SUM(CASE WHEN NOT deleted AND wanted_version <= delivered_version THEN 1 ELSE 0 END), 0) AS delivered
		FROM product_user_state WHERE product_id = ?`, productID).Scan(&c).Error
	if err != nil {
		return model.ProductCounts{}, fmt.Errorf("store: product counts: %w", err)
	}
	var g struct {
		Groups  int
		Pending int
	}
	err = s.db.WithContext(ctx).Raw(`SELECT
			COALESCE(SUM(CASE WHEN NOT deleted THEN 1 ELSE 0 END), 0) AS groups,
			COALESCE(SUM(CASE WHEN wanted_version > delivered_version AND NOT attention THEN 1 ELSE 0 END), 0) AS pending
		FROM product_group_state WHERE product_id = ?`, productID).Scan(&g).Error
	if err != nil {
		return model.ProductCounts{}, fmt.Errorf("store: product group counts: %w", err)
	}
	return model.ProductCounts{Pairs: c.Pairs, Pending: c.Pending, Failed: c.Failed, Attention: c.Attention,
		Delivered: c.Delivered, Groups: g.Groups, GroupsPending: g.Pending}, nil
}

// ListAttention returns the product's pairs that need attention, by
// username, with the last failed request and answer.
func (s *Store) ListAttention(ctx context.Context, productID int64, q model.ListQuery) ([]model.AttentionItem, int, error) {
	q = q.Normalize()
	db := s.db.WithContext(ctx)
	var total int64
	if err := db.Table("product_user_state").Where("product_id = ? AND attention", productID).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("store: count attention: %w", err)
	}
	var rows []claimRow
	if err := db.Raw(`SELECT `+claimCols+` FROM product_user_state WHERE product_id = ? AND attention
		ORDER BY lower(username), user_id LIMIT ? OFFSET ?`, productID, q.PerPage, q.Offset()).Scan(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("store: list attention: %w", err)
	}
	out := make([]model.AttentionItem, len(rows))
	for i := range rows {
		out[i] = model.AttentionItem{DeliveryState: rows[i].state(), Username: rows[i].Username}
	}
	return out, int(total), nil
}

// ResolveAttention retries (drop false) or drops (drop true) the given
// pairs of the product that need attention (userIDs empty: all of them),
// audited. A dropped pair counts as delivered in its current version (a
// dropped delete ends the pair); it is delivered again on the user's next
// change.
func (s *Store) ResolveAttention(ctx context.Context, productID int64, userIDs []int64, drop bool) (int, error) {
	var n int
	err := s.tx(ctx, func(tx *gorm.DB) error {
		where := "product_id = ? AND attention"
		args := []any{productID}
		if len(userIDs) > 0 {
			where += " AND user_id IN ?"
			args = append(args, userIDs)
		}
		var res *gorm.DB
		if drop {
			if err := tx.Exec(`DELETE FROM product_user_state WHERE deleted AND `+where, args...).Error; err != nil {
				return fmt.Errorf("store: drop attention: %w", err)
			}
			res = tx.Exec(`UPDATE product_user_state SET delivered_version = wanted_version, attention = FALSE,
				attempts = 0, next_attempt_at = 0, last_error = '' WHERE `+where, args...)
		} else {
			res = tx.Exec(`UPDATE product_user_state SET attention = FALSE, attempts = 0, next_attempt_at = 0
				WHERE `+where, args...)
		}
		if res.Error != nil {
			return fmt.Errorf("store: resolve attention: %w", res.Error)
		}
		n = int(res.RowsAffected)
		action, verb := "retry_attention", "retry"
		if drop {
			action, verb = "drop_attention", "drop"
		}
		return audit(ctx, tx, action, "product", productID,
			fmt.Sprintf("%s %d deliveries that needed attention", verb, n), nil, map[string]any{"user_ids": userIDs})
	})
	return n, err
}

// RetryFailed makes every failed pair of the product due now.
func (s *Store) RetryFailed(ctx context.Context, productID int64) (int, error) {
	var n int
	err := s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Exec(`UPDATE product_user_state SET next_attempt_at = 0, attempts = 0
			WHERE product_id = ? AND wanted_version > delivered_version AND attempts > 0 AND NOT attention`, productID)
		if res.Error != nil {
			return fmt.Errorf("store: retry failed: %w", res.Error)
		}
		n = int(res.RowsAffected)
		return audit(ctx, tx, "retry_failed", "product", productID, fmt.Sprintf("retry %d failed deliveries", n), nil, nil)
	})
	return n, err
}

// ListDeliveries returns one page of a product's delivery log, newest
// first. Search matches the username.
func (s *Store) ListDeliveries(ctx context.Context, productID int64, q model.ListQuery) ([]model.Delivery, int, error) {
	q = q.Normalize()
	where := s.db.WithContext(ctx).Model(&deliveryRow{}).Where("product_id = ?", productID)
	if p := likePattern(q.Search); p != "" {
		where = where.Where(`lower(username) LIKE ? ESCAPE '\'`, p)
	}
	var total int64
	if err := where.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("store: count deliveries: %w", err)
	}
	var rows []deliveryRow
	if err := where.Session(&gorm.Session{}).Order("id DESC").Limit(q.PerPage).Offset(q.Offset()).Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("store: list deliveries: %w", err)
	}
	out := make([]model.Delivery, len(rows))
	for i, r := range rows {
		out[i] = model.Delivery{ID: r.ID, ProductID: r.ProductID, UserID: r.UserID, Username: r.Username,
			Method: r.Method, URL: r.URL, Status: r.Status, Error: r.Error, LatencyMS: r.LatencyMS,
			Request: r.Request, Response: r.Response, At: r.At.UTC()}
	}
	return out, int(total), nil
}

// UsersForDelivery loads the latest state of the given users with their
// attributes; ids that no longer exist are absent from the map.
func (s *Store) UsersForDelivery(ctx context.Context, ids []int64) (map[int64]model.User, error) {
	db := s.db.WithContext(ctx)
	out := make(map[int64]model.User, len(ids))
	for chunk := range slices.Chunk(ids, 5000) {
		var rows []userRow
		if err := db.Where("id IN ?", chunk).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("store: users for delivery: %w", err)
		}
		users, err := s.usersWithAttrs(db, rows)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			out[u.ID] = u
		}
	}
	return out, nil
}

// DeliveryStates returns the outbox rows of a user (for the user page).
func (s *Store) DeliveryStates(ctx context.Context, userID int64) ([]model.DeliveryState, error) {
	var rows []claimRow
	if err := s.db.WithContext(ctx).Raw(`SELECT `+claimCols+` FROM product_user_state WHERE user_id = ? ORDER BY product_id`, userID).
		Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: delivery states: %w", err)
	}
	out := make([]model.DeliveryState, len(rows))
	for i := range rows {
		out[i] = rows[i].state()
	}
	return out, nil
}
