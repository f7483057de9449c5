package store

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/model"
)

type sourceRow struct {
	ID                 int64 `gorm:"primaryKey"`
	Name               string
	Kind               string
	URLs               string `gorm:"column:urls"`
	StartTLS           bool   `gorm:"column:start_tls"`
	CACert             string `gorm:"column:ca_cert"`
	ServerName         string
	BindDN             string `gorm:"column:bind_dn"`
	BindPasswordSealed string
	UserBaseDN         string `gorm:"column:user_base_dn"`
	UserFilter         string
	GroupBaseDN        string `gorm:"column:group_base_dn"`
	GroupFilter        string
	MemberAttr         string
	PageSize           int
	PrimaryGroups      bool  `gorm:"column:primary_groups"`
	TimeoutMS          int64 `gorm:"column:timeout_ms"`
	AttributeMap       string
	Demo               bool
	Enabled            bool
	CreatedAt          time.Time
	UpdatedAt          time.Time
	LastTestAt         *time.Time
	LastTestError      string
}

func (sourceRow) TableName() string { return "sources" }

// model returns the source without its password.
func (r *sourceRow) model() (model.Source, error) {
	s := model.Source{ID: r.ID, Name: r.Name, Kind: model.SourceKind(r.Kind), StartTLS: r.StartTLS, CACert: r.CACert,
		ServerName: r.ServerName, BindDN: r.BindDN, UserBaseDN: r.UserBaseDN, UserFilter: r.UserFilter,
		GroupBaseDN: r.GroupBaseDN, GroupFilter: r.GroupFilter, MemberAttr: r.MemberAttr, PageSize: r.PageSize, PrimaryGroups: r.PrimaryGroups,
		Timeout: time.Duration(r.TimeoutMS) * time.Millisecond, Demo: r.Demo, Enabled: r.Enabled,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), LastTestError: r.LastTestError}
	if r.LastTestAt != nil {
		s.LastTestAt = r.LastTestAt.UTC()
	}
	if err := json.Unmarshal([]byte(r.URLs), &s.URLs); err != nil {
		return s, fmt.Errorf("store: source %d urls: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(r.AttributeMap), &s.Attributes); err != nil {
		return s, fmt.Errorf("store: source %d attribute map: %w", r.ID, err)
	}
	return s, nil
}

func sourceToRow(s *model.Source, sealed string) (sourceRow, error) {
	urls, err := json.Marshal(s.URLs)
	if err != nil {
		return sourceRow{}, fmt.Errorf("store: source urls: %w", err)
	}
	am, err := json.Marshal(s.Attributes)
	if err != nil {
		return sourceRow{}, fmt.Errorf("store: source attribute map: %w", err)
	}
	return sourceRow{ID: s.ID, Name: s.Name, Kind: string(s.Kind), URLs: string(urls), StartTLS: s.StartTLS, CACert: s.CACert,
		ServerName: s.ServerName, BindDN: s.BindDN, BindPasswordSealed: sealed, UserBaseDN: s.UserBaseDN,
		UserFilter: s.UserFilter, GroupBaseDN: s.GroupBaseDN, GroupFilter: s.GroupFilter, MemberAttr: s.MemberAttr,
		PageSize: s.PageSize, PrimaryGroups: s.PrimaryGroups, TimeoutMS: s.Timeout.Milliseconds(), AttributeMap: string(am), Demo: s.Demo,
		Enabled: s.Enabled, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}, nil
}

// auditSource is what the audit log records of a source: never the password.
func auditSource(s *model.Source) *model.Source {
	c := *s
	c.BindPassword = ""
	c.CACert = ""
	return &c
}

func validateSource(s *model.Source, attrs *attrSet) error {
	s.Name = strings.TrimSpace(s.Name)
	s.BindDN = strings.TrimSpace(s.BindDN)
	s.UserBaseDN = strings.TrimSpace(s.UserBaseDN)
	s.GroupBaseDN = strings.TrimSpace(s.GroupBaseDN)
	s.UserFilter = strings.TrimSpace(s.UserFilter)
	s.GroupFilter = strings.TrimSpace(s.GroupFilter)
	s.MemberAttr = strings.TrimSpace(s.MemberAttr)
	s.ServerName = strings.TrimSpace(s.ServerName)
	if s.Kind == "" {
		s.Kind = model.SourceOpenLDAP
	}
	if s.PageSize == 0 {
		s.PageSize = 500
	}
	if s.Timeout == 0 {
		s.Timeout = 30 * time.Second
	}
	f := fields{}
	f.text("name", s.Name, true, 100)
	oneOf(f, "kind", s.Kind, model.SourceOpenLDAP, model.SourceActiveDirectory)
	var urls []string
	for _, u := range s.URLs {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "ldap" && p.Scheme != "ldaps") || p.Host == "" {
			f.add("urls", "%q is not an ldap:// or ldaps:// URL", u)
		}
		urls = append(urls, u)
	}
	s.URLs = urls
	if len(urls) == 0 {
		f.add("urls", "is required")
	}
	f.text("bind_dn", s.BindDN, false, 1000)
	if err := model.ValidateBindName(s.BindDN); err != nil {
		f.add("bind_dn", "%s", err.Error())
	}
	f.text("user_base_dn", s.UserBaseDN, true, 1000)
	f.text("group_base_dn", s.GroupBaseDN, false, 1000)
	f.text("user_filter", s.UserFilter, false, 2000)
	f.text("group_filter", s.GroupFilter, false, 2000)
	for field, v := range map[string]string{"user_filter": s.UserFilter, "group_filter": s.GroupFilter} {
		if v != "" && (!strings.HasPrefix(v, "(") || !strings.HasSuffix(v, ")") || strings.Count(v, "(") != strings.Count(v, ")")) {
			f.add(field, "must be an LDAP filter in parentheses")
		}
	}
	f.text("member_attr", s.MemberAttr, true, 100)
	f.text("server_name", s.ServerName, false, 255)
	f.multiline("ca_cert", s.CACert, 100_000)
	if s.CACert != "" && !strings.Contains(s.CACert, "-----BEGIN CERTIFICATE-----") {
		f.add("ca_cert", "must be a PEM certificate bundle")
	}
	if s.PageSize < 1 || s.PageSize > 10000 {
		f.add("page_size", "must be between 1 and 10000")
	}
	if s.Timeout < time.Second || s.Timeout > 10*time.Minute {
		f.add("timeout", "must be between 1 second and 10 minutes")
	}
	if len(s.BindPassword) > 1000 {
		f.add("bind_password", "is too long")
	}
	f.text("attributes.external_id", s.Attributes.ExternalID, true, 100)
	f.text("attributes.username", s.Attributes.Username, true, 100)
	if _, err := directory.ParseDisabled(s.Attributes.Disabled); err != nil {
		f.add("attributes.disabled", "does not parse: %v", err)
	}
	for k, v := range s.Attributes.Enterprise {
		if _, ok := attrs.byKey[k]; !ok {
			f.add("attributes.enterprise."+k, "is not a known attribute")
		}
		f.text("attributes.enterprise."+k, v, false, 100)
	}
	return f.err()
}

// ListSources returns every source by name, without passwords.
func (s *Store) ListSources(ctx context.Context) ([]model.Source, error) {
	var rows []sourceRow
	if err := s.db.WithContext(ctx).Order("lower(name), id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: list sources: %w", err)
	}
	out := make([]model.Source, 0, len(rows))
	for i := range rows {
		src, err := rows[i].model()
		if err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	return out, nil
}

// GetSource returns one source with its bind password decrypted, or
// ENOTFOUND. A password that cannot be decrypted (the secret key changed) is
// an error naming that cause.
func (s *Store) GetSource(ctx context.Context, id int64) (*model.Source, error) {
	var r sourceRow
	if err := s.db.WithContext(ctx).Take(&r, id).Error; err != nil {
		return nil, dbErrNotFound("store: get source", err, "Source", id)
	}
	src, err := r.model()
	if err != nil {
		return nil, err
	}
	if src.BindPassword, err = s.box.Open(r.BindPasswordSealed); err != nil {
		return nil, fmt.Errorf("store: get source %d: bind password (was the secret key changed?): %w", id, err)
	}
	return &src, nil
}

// CreateSource validates and inserts src, sealing its bind password, and
// sets src.ID.
func (s *Store) CreateSource(ctx context.Context, src *model.Source) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		attrs, err := loadAttrs(tx)
		if err != nil {
			return err
		}
		ns := *src
		if err := validateSource(&ns, attrs); err != nil {
			return err
		}
		sealed, err := s.box.Seal(ns.BindPassword)
		if err != nil {
			return fmt.Errorf("store: create source: %w", err)
		}
		t := now()
		ns.ID, ns.CreatedAt, ns.UpdatedAt, ns.LastTestAt, ns.LastTestError = 0, t, t, time.Time{}, ""
		r, err := sourceToRow(&ns, sealed)
		if err != nil {
			return err
		}
		if err := tx.Create(&r).Error; err != nil {
			return dbErr("store: create source", err)
		}
		ns.ID = r.ID
		if err := audit(ctx, tx, "create", "source", ns.ID, "created directory source "+ns.Name, nil, auditSource(&ns)); err != nil {
			return err
		}
		*src = ns
		return nil
	})
}

// UpdateSource stores src; an empty BindPassword keeps the stored one.
func (s *Store) UpdateSource(ctx context.Context, src *model.Source) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		attrs, err := loadAttrs(tx)
		if err != nil {
			return err
		}
		var old sourceRow
		if err := tx.Take(&old, src.ID).Error; err != nil {
			return dbErrNotFound("store: update source", err, "Source", src.ID)
		}
		before, err := old.model()
		if err != nil {
			return err
		}
		ns := *src
		if err := validateSource(&ns, attrs); err != nil {
			return err
		}
		sealed := old.BindPasswordSealed
		if ns.BindPassword == "" && sealed != "" && !model.SourceSecretReusable(&before, &ns) {
			return model.Invalid(map[string]string{"bind_password": model.MsgBindPasswordAgain})
		}
		if ns.BindPassword != "" {
			if sealed, err = s.box.Seal(ns.BindPassword); err != nil {
				return fmt.Errorf("store: update source: %w", err)
			}
		} else if ns.BindPassword, err = s.box.Open(sealed); err != nil {
			return fmt.Errorf("store: update source %d: bind password: %w", ns.ID, err)
		}
		ns.CreatedAt, ns.UpdatedAt, ns.LastTestAt, ns.LastTestError = before.CreatedAt, now(), before.LastTestAt, before.LastTestError
		r, err := sourceToRow(&ns, sealed)
		if err != nil {
			return err
		}
		err = tx.Model(&sourceRow{}).Where("id = ?", ns.ID).Select("*").Omit("id", "created_at", "last_test_at", "last_test_error").Updates(&r).Error
		if err != nil {
			return dbErr("store: update source", err)
		}
		if err := audit(ctx, tx, "update", "source", ns.ID, "updated directory source "+ns.Name, auditSource(&before), auditSource(&ns)); err != nil {
			return err
		}
		*src = ns
		return nil
	})
}

// DeleteSource removes a source and its mappings. A source that users still
// come from is ECONFLICT: those users would lose their directory link.
func (s *Store) DeleteSource(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var old sourceRow
		if err := tx.Take(&old, id).Error; err != nil {
			return dbErrNotFound("store: delete source", err, "Source", id)
		}
		var n int64
		if err := tx.Model(&userRow{}).Where("source_id = ?", id).Count(&n).Error; err != nil {
			return fmt.Errorf("store: delete source: %w", err)
		}
		if n > 0 {
			return model.Errorf(model.ECONFLICT, "%d users come from source %q; delete them or convert them to local accounts first.", n, old.Name)
		}
		before, err := old.model()
		if err != nil {
			return err
		}
		if err := tx.Delete(&sourceRow{}, id).Error; err != nil {
			return dbErr("store: delete source", err)
		}
		return audit(ctx, tx, "delete", "source", id, "deleted directory source "+old.Name, auditSource(&before), nil)
	})
}

// RecordSourceTest stores the outcome of a "Test connection" (errMsg ""
// for success). It is not audited: it changes no configuration.
func (s *Store) RecordSourceTest(ctx context.Context, id int64, at time.Time, errMsg string) error {
	at = at.UTC()
	res := s.db.WithContext(ctx).Model(&sourceRow{}).Where("id = ?", id).
		Updates(map[string]any{"last_test_at": at, "last_test_error": errMsg})
	if res.Error != nil {
		return fmt.Errorf("store: record source test: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return notFound("Source", id)
	}
	return nil
}
