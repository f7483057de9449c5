package store

import (
	"context"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

func (r *groupRow) profile(rules []model.Rule) model.Profile {
	return model.Profile{ID: r.ID, Name: r.Name, Description: r.Description, Rules: rules, SyncEnabled: r.SyncEnabled,
		MemberCount: r.MemberCount, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

func (s *Store) profilesByID(db *gorm.DB, ids []int64) ([]model.Profile, error) {
	rows, rules, err := profileKind().byIDs(db, ids)
	if err != nil {
		return nil, err
	}
	out := make([]model.Profile, len(rows))
	for i := range rows {
		out[i] = rows[i].profile(rules[rows[i].ID])
	}
	return out, nil
}

// ListProfiles returns a page of profiles with member counts and rules.
// Sort accepts name, created_at and member_count.
func (s *Store) ListProfiles(ctx context.Context, q model.ListQuery) ([]model.Profile, int, error) {
	rows, rules, total, err := profileKind().list(s.db.WithContext(ctx), q)
	if err != nil {
		return nil, 0, err
	}
	out := make([]model.Profile, len(rows))
	for i := range rows {
		out[i] = rows[i].profile(rules[rows[i].ID])
	}
	return out, total, nil
}

// GetProfile returns one profile, or ENOTFOUND.
func (s *Store) GetProfile(ctx context.Context, id int64) (*model.Profile, error) {
	r, rules, err := profileKind().get(s.db.WithContext(ctx), id)
	if err != nil {
		return nil, err
	}
	p := r.profile(rules)
	return &p, nil
}

// CreateProfile validates and inserts p, setting p.ID. SyncEnabled is
// forced off when p has no rules.
func (s *Store) CreateProfile(ctx context.Context, p *model.Profile) error {
	k := profileKind()
	return s.tx(ctx, func(tx *gorm.DB) error {
		attrs, err := loadAttrs(tx)
		if err != nil {
			return err
		}
		np := *p
		if np.Rules, err = k.validate(&np.Name, &np.Description, np.Rules, attrs); err != nil {
			return err
		}
		np.SyncEnabled = np.SyncEnabled && len(np.Rules) > 0
		id, t, err := k.create(tx, np.Name, np.Description, np.SyncEnabled, np.Rules, attrs)
		if err != nil {
			return err
		}
		np.ID, np.CreatedAt, np.UpdatedAt, np.MemberCount = id, t, t, 0
		if err := audit(ctx, tx, "create", k.object, id, "created profile "+np.Name, nil, &np); err != nil {
			return err
		}
		*p = np
		return nil
	})
}

// UpdateProfile stores p's name, description, rules and sync checkbox
// (forced off without rules).
func (s *Store) UpdateProfile(ctx context.Context, p *model.Profile) error {
	k := profileKind()
	return s.tx(ctx, func(tx *gorm.DB) error {
		attrs, err := loadAttrs(tx)
		if err != nil {
			return err
		}
		oldRow, oldRules, err := k.get(tx, p.ID)
		if err != nil {
			return err
		}
		old := oldRow.profile(oldRules)
		np := *p
		if np.Rules, err = k.validate(&np.Name, &np.Description, np.Rules, attrs); err != nil {
			return err
		}
		np.SyncEnabled = np.SyncEnabled && len(np.Rules) > 0
		t, err := k.update(tx, np.ID, np.Name, np.Description, np.SyncEnabled, np.Rules, attrs)
		if err != nil {
			return err
		}
		np.CreatedAt, np.UpdatedAt, np.MemberCount = old.CreatedAt, t, old.MemberCount
		if err := audit(ctx, tx, "update", k.object, np.ID, "updated profile "+np.Name, &old, &np); err != nil {
			return err
		}
		*p = np
		return nil
	})
}

// DeleteProfile removes a profile and its memberships.
func (s *Store) DeleteProfile(ctx context.Context, id int64) error {
	k := profileKind()
	return s.tx(ctx, func(tx *gorm.DB) error {
		r, rules, err := k.get(tx, id)
		if err != nil {
			return err
		}
		p := r.profile(rules)
		return k.remove(ctx, tx, id, &p, p.Name)
	})
}

// ListProfileMembers returns a page of the profile's members with their
// memberships (manual or synced).
func (s *Store) ListProfileMembers(ctx context.Context, profileID int64, q model.ListQuery) ([]model.User, []model.Membership, int, error) {
	return profileKind().listMembers(s, s.db.WithContext(ctx), profileID, q)
}

// AddProfileMember adds the user as a manual member, whom sync never
// removes (SPEC §5). A synced member added again becomes manual.
func (s *Store) AddProfileMember(ctx context.Context, profileID, userID int64) error {
	return s.addProfileMember(ctx, profileID, userID, true)
}

// AddSyncedProfileMember adds the user as a synced member (the sync
// engine's add); an existing membership is left as it is.
func (s *Store) AddSyncedProfileMember(ctx context.Context, profileID, userID int64) error {
	return s.addProfileMember(ctx, profileID, userID, false)
}

func (s *Store) addProfileMember(ctx context.Context, profileID, userID int64, manual bool) error {
	return s.tx(ctx, func(tx *gorm.DB) error { return addProfileMember(ctx, tx, profileID, userID, manual) })
}

func addProfileMember(ctx context.Context, tx *gorm.DB, profileID, userID int64, manual bool) error {
	k := profileKind()
	p, _, err := k.get(tx, profileID)
	if err != nil {
		return err
	}
	return k.addMember(ctx, tx, profileID, userID, manual, p.Name)
}

// RemoveProfileMember removes the user from the profile; ENOTFOUND when
// they are not a member.
func (s *Store) RemoveProfileMember(ctx context.Context, profileID, userID int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error { return removeProfileMember(ctx, tx, profileID, userID) })
}

func removeProfileMember(ctx context.Context, tx *gorm.DB, profileID, userID int64) error {
	k := profileKind()
	p, _, err := k.get(tx, profileID)
	if err != nil {
		return err
	}
	return k.removeMember(ctx, tx, profileID, userID, p.Name)
}
