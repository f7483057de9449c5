package web

import (
	"context"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// groupOps adapts service groups and profiles to the one set of handlers
// they share (name, description, rules, members).
type groupOps struct {
	kind      pages.GroupKind
	list      func(ctx context.Context, q model.ListQuery) ([]pages.GroupRow, int, error)
	get       func(ctx context.Context, id int64) (pages.GroupRow, error)
	create    func(ctx context.Context, f *pages.GroupForm) error // sets f.ID
	update    func(ctx context.Context, f *pages.GroupForm) error
	remove    func(ctx context.Context, id int64) error
	members   func(ctx context.Context, id int64, q model.ListQuery) ([]model.User, []model.Membership, int, error)
	addMember func(ctx context.Context, id, userID int64) error
	delMember func(ctx context.Context, id, userID int64) error
}

func (s *Server) serviceGroupOps() groupOps {
	row := func(g model.ServiceGroup) pages.GroupRow {
		return pages.GroupRow{ID: g.ID, Name: g.Name, Description: g.Description, Rules: g.Rules, MemberCount: g.MemberCount}
	}
	return groupOps{
		kind: pages.ServiceGroupKind,
		list: func(ctx context.Context, q model.ListQuery) ([]pages.GroupRow, int, error) {
			gs, n, err := s.store.ListServiceGroups(ctx, q)
			rows := make([]pages.GroupRow, len(gs))
			for i, g := range gs {
				rows[i] = row(g)
			}
			return rows, n, err
		},
		get: func(ctx context.Context, id int64) (pages.GroupRow, error) {
			g, err := s.store.GetServiceGroup(ctx, id)
			if err != nil {
				return pages.GroupRow{}, err
			}
			return row(*g), nil
		},
		create: func(ctx context.Context, f *pages.GroupForm) error {
			g := model.ServiceGroup{Name: f.Name, Description: f.Description, Rules: f.Rules}
			err := s.store.CreateServiceGroup(ctx, &g)
			f.ID = g.ID
			return err
		},
		update: func(ctx context.Context, f *pages.GroupForm) error {
			g, err := s.store.GetServiceGroup(ctx, f.ID)
			if err != nil {
				return err
			}
			g.Name, g.Description, g.Rules = f.Name, f.Description, f.Rules
			return s.store.UpdateServiceGroup(ctx, g)
		},
		remove:    s.store.DeleteServiceGroup,
		members:   s.store.ListServiceGroupMembers,
		addMember: s.store.AddServiceGroupMember,
		delMember: s.store.RemoveServiceGroupMember,
	}
}

func (s *Server) profileOps() groupOps {
	row := func(p model.Profile) pages.GroupRow {
		return pages.GroupRow{ID: p.ID, Name: p.Name, Description: p.Description, Rules: p.Rules, SyncEnabled: p.SyncEnabled, MemberCount: p.MemberCount}
	}
	return groupOps{
		kind: pages.ProfileKind,
		list: func(ctx context.Context, q model.ListQuery) ([]pages.GroupRow, int, error) {
			ps, n, err := s.store.ListProfiles(ctx, q)
			rows := make([]pages.GroupRow, len(ps))
			for i, p := range ps {
				rows[i] = row(p)
			}
			return rows, n, err
		},
		get: func(ctx context.Context, id int64) (pages.GroupRow, error) {
			p, err := s.store.GetProfile(ctx, id)
			if err != nil {
				return pages.GroupRow{}, err
			}
			return row(*p), nil
		},
		create: func(ctx context.Context, f *pages.GroupForm) error {
			p := model.Profile{Name: f.Name, Description: f.Description, Rules: f.Rules, SyncEnabled: f.SyncEnabled && len(f.Rules) > 0}
			err := s.store.CreateProfile(ctx, &p)
			f.ID = p.ID
			return err
		},
		update: func(ctx context.Context, f *pages.GroupForm) error {
			p, err := s.store.GetProfile(ctx, f.ID)
			if err != nil {
				return err
			}
			p.Name, p.Description, p.Rules = f.Name, f.Description, f.Rules
			// The checkbox is disabled (so not posted) while the profile
			// has no rules; sync stays off until rules exist.
			p.SyncEnabled = f.SyncEnabled && len(f.Rules) > 0
			return s.store.UpdateProfile(ctx, p)
		},
		remove:    s.store.DeleteProfile,
		members:   s.store.ListProfileMembers,
		addMember: s.store.AddProfileMember,
		delMember: s.store.RemoveProfileMember,
	}
}
