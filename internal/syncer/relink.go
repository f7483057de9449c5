package syncer

import (
	"context"
	"slices"
	"strings"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
)

// linkMappings finds each mapping's directory group by its stable id
// (objectGUID / entryUUID) before planning:
//   - a group found by id under another DN was renamed or moved: the
//     mapping's DN is updated (audited) and the plan uses the new DN;
//   - a group found by id outside the read (moved out of the group base)
//     is read by DN, with its nested groups, into the snapshot;
//   - a mapping without an id records the id of the group at its DN;
//   - an id that now belongs to an entry that is no group, or an id that
//     is no GUID, leaves the mapping's group missing (the plan holds and
//     skips what it would remove) and adds a skip line saying why.
//
// It returns those skip lines and whether a mapping changed.
func (s *Syncer) linkMappings(ctx context.Context, src *model.Source, snap *model.Snapshot, state *model.State, rl *runLog) ([]model.Skip, bool, error) {
	byID := map[string]*model.DirGroup{}
	byDN := map[string]*model.DirGroup{}
	for i := range snap.Groups {
		g := &snap.Groups[i]
		if g.ID != "" {
			byID[g.ID] = g
		}
		byDN[model.NormalizeDN(g.DN)] = g
	}
	var skips []model.Skip
	changed := false
	link := func(kind store.MappingKind, id int64, dn, gid *string, phase model.Phase, what string) error {
		if *gid == "" {
			if g := byDN[model.NormalizeDN(*dn)]; g != nil && g.ID != "" {
				if _, err := s.st.LinkMappingGroup(ctx, kind, id, g.DN, g.ID); err != nil {
					return err
				}
				*gid, changed = g.ID, true
			}
			return nil
		}
		if g := byID[*gid]; g != nil {
			if model.NormalizeDN(g.DN) != model.NormalizeDN(*dn) {
				if _, err := s.st.LinkMappingGroup(ctx, kind, id, g.DN, *gid); err != nil {
					return err
				}
				rl.printf("%s: directory group %s was renamed or moved to %s (same stable id %s); mapping updated", what, *dn, g.DN, *gid)
				*dn, changed = g.DN, true
			}
			return nil
		}
		fe, ok, err := s.dir.FindByID(ctx, src, *gid)
		switch {
		case err != nil && model.ErrorCode(err) == model.EINVALID:
			skips = append(skips, model.Skip{Phase: phase, Reason: what + ": the stored stable id " + quoteID(*gid) + " of directory group " + *dn + " is not valid (" + model.ErrorMessage(err) + "); the group counts as missing"})
			return nil
		case err != nil:
			return err
		case !ok:
			if g := byDN[model.NormalizeDN(*dn)]; g != nil && g.ID != "" {
				// The object is gone and another group has its DN: a group
				// deleted and created again. Follow the new one.
				if _, err := s.st.LinkMappingGroup(ctx, kind, id, g.DN, g.ID); err != nil {
					return err
				}
				rl.printf("%s: directory group %s was created again (stable id %s, was %s); mapping follows the new group", what, g.DN, g.ID, *gid)
				*gid, changed = g.ID, true
			}
			return nil
		case !fe.IsGroup:
			skips = append(skips, model.Skip{Phase: phase, Reason: what + ": the stable id " + quoteID(*gid) + " of directory group " + *dn + " now belongs to " + fe.DN +
				" (" + strings.Join(fe.Classes, ", ") + "), which is not a group; the group counts as missing and the mapping is not moved"})
			return nil
		}
		// A group outside the read: read it (and what it nests) by DN.
		part, err := s.dir.ReadGroup(ctx, src, fe.DN, true)
		if err != nil {
			return err
		}
		for _, g := range part.Groups {
			if byDN[model.NormalizeDN(g.DN)] == nil {
				g.Outside = true
				if model.NormalizeDN(g.DN) == model.NormalizeDN(fe.DN) {
					g.ID = *gid
				}
				// Only users the full read knows count (the user base and
				// filter decide who is a user).
				snap.Groups = append(snap.Groups, g)
			}
		}
		slices.SortFunc(snap.Groups, func(a, b model.DirGroup) int { return strings.Compare(a.DN, b.DN) })
		byDN = map[string]*model.DirGroup{}
		for i := range snap.Groups {
			byDN[model.NormalizeDN(snap.Groups[i].DN)] = &snap.Groups[i]
			if snap.Groups[i].ID != "" {
				byID[snap.Groups[i].ID] = &snap.Groups[i]
			}
		}
		if model.NormalizeDN(fe.DN) != model.NormalizeDN(*dn) {
			if _, err := s.st.LinkMappingGroup(ctx, kind, id, fe.DN, *gid); err != nil {
				return err
			}
			rl.printf("%s: directory group %s was moved to %s, outside the group base (same stable id %s); mapping updated", what, *dn, fe.DN, *gid)
			*dn, changed = fe.DN, true
		}
		return nil
	}
	for i := range state.GroupMappings {
		m := &state.GroupMappings[i]
		if m.SourceID != src.ID {
			continue
		}
		if err := link(store.GroupMappingKind, m.ID, &m.GroupDN, &m.GroupID, model.PhaseServiceGroups, "mapping to service group "+quoteID(m.ServiceGroupName)); err != nil {
			return nil, false, err
		}
	}
	for i := range state.ProvisioningMappings {
		m := &state.ProvisioningMappings[i]
		if m.SourceID != src.ID {
			continue
		}
		if err := link(store.ProvisioningMappingKind, m.ID, &m.GroupDN, &m.GroupID, model.PhaseProvisioning, "provisioning mapping"); err != nil {
			return nil, false, err
		}
	}
	return skips, changed, nil
}

func quoteID(s string) string { return "\"" + s + "\"" }

// missingGroupSkips counts the skip lines that say a mapped directory group
// was not found (the mapping-level lines, not the per-user ones).
func missingGroupSkips(skips []model.Skip) int {
	n := 0
	for _, sk := range skips {
		if sk.UserID == 0 && sk.ExternalID == "" && (strings.Contains(sk.Reason, "was not found") || strings.Contains(sk.Reason, "counts as missing")) {
			n++
		}
	}
	return n
}
