package syncplan

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"slices"
	"strings"

	"github.com/idsync/idsync/internal/model"
)

// hasher writes length-prefixed fields so that no two different inputs
// serialise to the same bytes. Fields are gathered in a buffer and handed to
// the hash in large blocks.
type hasher struct {
	h   hash.Hash
	buf []byte
}

func newHasher(tag string) *hasher {
	w := &hasher{h: sha256.New(), buf: make([]byte, 0, 64<<10)}
	w.str(tag)
	return w
}

func (w *hasher) flush() {
	w.h.Write(w.buf)
	w.buf = w.buf[:0]
}

func (w *hasher) int(n int64) {
	w.buf = binary.AppendVarint(w.buf, n)
	if len(w.buf) >= 60<<10 {
		w.flush()
	}
}

func (w *hasher) str(s string) {
	w.buf = binary.AppendVarint(w.buf, int64(len(s)))
	w.buf = append(w.buf, s...)
	if len(w.buf) >= 60<<10 {
		w.flush()
	}
}

func (w *hasher) bool(b bool) {
	if b {
		w.int(1)
	} else {
		w.int(0)
	}
}

// attrs writes a map sorted by key; blank values are left out, since a
// missing key and "" mean the same.
func (w *hasher) attrs(a map[string]string) {
	keys := make([]string, 0, len(a))
	for k, v := range a {
		if v != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	w.int(int64(len(keys)))
	for _, k := range keys {
		w.str(k)
		w.str(a[k])
	}
}

func (w *hasher) strs(l []string) {
	c := slices.Clone(l)
	slices.Sort(c)
	w.int(int64(len(c)))
	for _, s := range c {
		w.str(s)
	}
}

func (w *hasher) rules(rs []model.Rule) {
	w.int(int64(len(rs)))
	for _, r := range rs {
		w.str(r.Attribute)
		w.str(r.Value)
	}
}

func (w *hasher) sum() string {
	w.flush()
	return hex.EncodeToString(w.h.Sum(nil))
}

// SnapshotHash returns a stable SHA-256 (hex) of everything in s that
// planning depends on, independent of the order of users, groups and
// members and of map iteration. The read time is left out. A nil snapshot
// has a fixed hash.
func SnapshotHash(s *model.Snapshot) string {
	w := newHasher("idsync snapshot v1")
	if s == nil {
		return w.sum()
	}
	w.int(s.SourceID)
	w.bool(s.Complete)
	users := make([]*model.DirUser, len(s.Users))
	for i := range s.Users {
		users[i] = &s.Users[i]
	}
	slices.SortStableFunc(users, func(a, b *model.DirUser) int { return strings.Compare(a.ExternalID, b.ExternalID) })
	w.int(int64(len(users)))
	for _, u := range users {
		w.str(u.ExternalID)
		w.str(u.DN)
		w.str(u.Username)
		w.str(u.Email)
		w.str(u.DisplayName)
		w.bool(u.Disabled)
		w.attrs(u.Attributes)
	}
	groups := make([]*model.DirGroup, len(s.Groups))
	for i := range s.Groups {
		groups[i] = &s.Groups[i]
	}
	slices.SortStableFunc(groups, func(a, b *model.DirGroup) int {
		return strings.Compare(a.DN, b.DN)
	})
	w.int(int64(len(groups)))
	for _, g := range groups {
		w.str(g.DN)
		w.str(g.Name)
		w.strs(g.Users)
		w.strs(g.Groups)
	}
	return w.sum()
}

// StateHash returns a stable SHA-256 (hex) of everything in st that
// planning depends on: the sync settings, attribute definitions, users,
// devices, service groups, profiles, memberships and mappings, each sorted
// by id. Timestamps, versions, display-only fields and settings that do not
// affect a plan (schedule, retention, product sync) are left out. A nil
// state has a fixed hash.
func StateHash(st *model.State) string {
	w := newHasher("idsync state v1")
	if st == nil {
		return w.sum()
	}
	s := st.Settings
	w.bool(s.SyncEnterpriseGroupsToDevices)
	w.bool(s.SyncDevicesToUsers)
	w.bool(s.AutoProfileSync)
	w.bool(s.ProvisioningEnabled)
	w.bool(s.DeprovisioningEnabled)
	w.str(string(s.DeprovisionAction))
	w.str(string(s.ServiceGroupMembership))
	w.int(int64(s.DeleteThresholdCount))
	w.int(int64(s.DeleteThresholdPercent))
	w.int(int64(s.ShrinkThresholdPercent))

	defs := slices.Clone(st.AttributeDefs)
	slices.SortStableFunc(defs, func(a, b model.AttributeDef) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), cmp.Compare(a.ID, b.ID))
	})
	w.int(int64(len(defs)))
	for _, d := range defs {
		w.int(d.ID)
		w.str(d.Key)
		w.str(d.Name)
		w.bool(d.EnterpriseGroup)
	}

	users := make([]*model.User, len(st.Users))
	for i := range st.Users {
		users[i] = &st.Users[i]
	}
	slices.SortStableFunc(users, func(a, b *model.User) int { return cmp.Compare(a.ID, b.ID) })
	w.int(int64(len(users)))
	for _, u := range users {
		w.int(u.ID)
		w.str(u.Username)
		w.str(u.Email)
		w.str(u.DisplayName)
		w.str(string(u.Status))
		w.str(string(u.Origin))
		w.str(string(u.AccountType))
		w.int(u.SourceID)
		w.str(u.ExternalID)
		w.str(u.DN)
		w.bool(u.DisabledBySync)
		w.attrs(u.Attributes)
	}

	devs := make([]*model.Device, len(st.Devices))
	for i := range st.Devices {
		devs[i] = &st.Devices[i]
	}
	slices.SortStableFunc(devs, func(a, b *model.Device) int { return cmp.Compare(a.ID, b.ID) })
	w.int(int64(len(devs)))
	for _, d := range devs {
		w.int(d.ID)
		w.str(d.Name)
		w.int(d.UserID)
		w.attrs(d.Attributes)
	}

	sgs := slices.Clone(st.ServiceGroups)
	slices.SortStableFunc(sgs, func(a, b model.ServiceGroup) int { return cmp.Compare(a.ID, b.ID) })
	w.int(int64(len(sgs)))
	for _, g := range sgs {
		w.int(g.ID)
		w.str(g.Name)
		w.rules(g.Rules)
	}
	prs := slices.Clone(st.Profiles)
	slices.SortStableFunc(prs, func(a, b model.Profile) int { return cmp.Compare(a.ID, b.ID) })
	w.int(int64(len(prs)))
	for _, pr := range prs {
		w.int(pr.ID)
		w.str(pr.Name)
		w.bool(pr.SyncEnabled)
		w.rules(pr.Rules)
	}

	for _, ms := range [][]model.Membership{st.ServiceGroupMembers, st.ProfileMembers} {
		c := slices.Clone(ms)
		slices.SortFunc(c, func(a, b model.Membership) int {
			return cmp.Or(cmp.Compare(a.GroupID, b.GroupID), cmp.Compare(a.UserID, b.UserID), boolCmp(a.Manual, b.Manual))
		})
		w.int(int64(len(c)))
		for _, m := range c {
			w.int(m.GroupID)
			w.int(m.UserID)
			w.bool(m.Manual)
		}
	}

	gms := slices.Clone(st.GroupMappings)
	slices.SortStableFunc(gms, func(a, b model.GroupMapping) int { return cmp.Compare(a.ID, b.ID) })
	w.int(int64(len(gms)))
	for _, m := range gms {
		w.int(m.ID)
		w.int(m.SourceID)
		w.str(m.GroupDN)
		w.int(m.ServiceGroupID)
		w.bool(m.Nested)
		w.bool(m.Force)
		w.int(int64(m.Priority))
	}
	pms := slices.Clone(st.ProvisioningMappings)
	slices.SortStableFunc(pms, func(a, b model.ProvisioningMapping) int { return cmp.Compare(a.ID, b.ID) })
	w.int(int64(len(pms)))
	for _, m := range pms {
		w.int(m.ID)
		w.int(m.SourceID)
		w.str(m.GroupDN)
		w.str(string(m.AccountType))
		w.bool(m.Nested)
		w.int(int64(m.Priority))
	}
	return w.sum()
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// PlanHash returns a stable SHA-256 (hex) of what a plan does: every
// action's kind, phase and target (user, group, device, attribute) and the
// values it writes, in plan order, and the holds. Reasons and display
// names are left out: two plans with the same hash make the same changes
// under the same guard. Apply compares it with the preview's to decide
// whether the preview is stale (SPEC §7: stale means the plan would differ).
func PlanHash(p *model.Plan) string {
	w := newHasher("idsync plan v1")
	if p == nil {
		return w.sum()
	}
	w.int(int64(len(p.Actions)))
	for i := range p.Actions {
		a := &p.Actions[i]
		w.str(string(a.Phase))
		w.str(string(a.Kind))
		w.int(a.UserID)
		w.str(a.ExternalID)
		w.str(a.Attribute)
		w.str(a.Old)
		w.str(a.New)
		w.int(a.GroupID)
		w.int(a.DeviceID)
		w.bool(a.AtCreate)
		w.int(int64(len(a.AtCreation)))
		for _, pl := range a.AtCreation {
			w.str(string(pl.Kind))
			w.int(pl.GroupID)
		}
		if u := a.User; u != nil {
			w.int(1)
			w.str(u.Username)
			w.str(u.Email)
			w.str(u.DisplayName)
			w.str(u.DN)
			w.str(u.ExternalID)
			w.int(u.SourceID)
			w.str(string(u.Status))
			w.str(string(u.AccountType))
			w.bool(u.DisabledBySync)
			w.attrs(u.Attributes)
		} else {
			w.int(0)
		}
	}
	w.int(int64(len(p.Holds)))
	for _, h := range p.Holds {
		w.str(h.Code)
		w.str(h.Message)
	}
	return w.sum()
}
