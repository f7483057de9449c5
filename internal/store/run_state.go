package store

import (
	"context"

	"github.com/idsync/idsync/internal/model"
)

// LoadUserState returns the State a one-user refresh plans against: the
// settings, attribute definitions, groups, profiles and mappings, and of the
// users only user userID with their devices and memberships. ENOTFOUND when
// the user does not exist.
func (s *Store) LoadUserState(ctx context.Context, userID int64) (*model.State, error) {
	st, err := s.LoadState(ctx)
	if err != nil {
		return nil, err
	}
	out := *st
	out.Users = nil
	for _, u := range st.Users {
		if u.ID == userID {
			out.Users = append(out.Users, u)
		}
	}
	if len(out.Users) == 0 {
		return nil, notFound("User", userID)
	}
	out.Devices = nil
	for _, d := range st.Devices {
		if d.UserID == userID {
			out.Devices = append(out.Devices, d)
		}
	}
	out.ServiceGroupMembers = filterMembers(st.ServiceGroupMembers, userID)
	out.ProfileMembers = filterMembers(st.ProfileMembers, userID)
	return &out, nil
}

func filterMembers(ms []model.Membership, userID int64) []model.Membership {
	var out []model.Membership
	for _, m := range ms {
		if m.UserID == userID {
			out = append(out, m)
		}
	}
	return out
}
