package syncplan

import (
	"slices"
	"strconv"

	"github.com/idsync/idsync/internal/model"
)

// devices propagates this plan's enterprise-group attribute changes to the
// devices assigned to each changed user (SPEC §6), by the same rule as a
// console edit (model.PropagateToDevice). Triggered by the change only:
// users whose values do not change leave their devices alone.
func (p *planner) devices() {
	if !p.set.SyncEnterpriseGroupsToDevices {
		return
	}
	// The plan's changes per user, in the order they were planned.
	type userChange struct {
		keys     []string
		old, new model.Attributes
	}
	var order []int64
	byUser := map[int64]*userChange{}
	for _, c := range p.egChanges {
		uc := byUser[c.userID]
		if uc == nil {
			uc = &userChange{old: model.Attributes{}, new: model.Attributes{}}
			byUser[c.userID] = uc
			order = append(order, c.userID)
		}
		uc.keys = append(uc.keys, c.key)
		uc.old[c.key], uc.new[c.key] = c.old, c.new
	}
	for _, id := range order {
		uc := byUser[id]
		u := p.userByID[id]
		for _, dev := range p.devsByUser[id] {
			name := "#" + itoa(dev.ID)
			if dev.Name != "" {
				name = quote(dev.Name)
			}
			for _, ch := range model.PropagateToDevice(uc.keys, uc.old, uc.new, dev.Attributes) {
				p.act(model.Action{Phase: model.PhaseDevices, Kind: model.ActUpdateDevice, DeviceID: dev.ID, Attribute: ch.Key, Old: ch.Old, New: ch.New,
					Reason: "the assigned user's " + ch.Key + " changes from " + quote(uc.old[ch.Key]) + " to " + quote(ch.New) + " (device " + name + ")"}, u, nil)
			}
		}
	}
}

// guard adds the holds of SPEC §7 and, on an empty complete read, turns
// every removal into a skip.
func (p *planner) guard() {
	if p.empty {
		p.holds = slices.DeleteFunc(p.holds, func(h model.Hold) bool { return h.Code == HoldMassRemoval })
		n := 0
		for i := range p.actions {
			kept := p.actions[i][:0]
			for _, a := range p.actions[i] {
				switch a.Kind {
				case model.ActDeleteUser, model.ActDisableUser, model.ActRemoveServiceGroup, model.ActRemoveProfile:
					n++
					p.skips = append(p.skips, model.Skip{Phase: a.Phase, Kind: a.Kind, UserID: a.UserID, ExternalID: a.ExternalID, Username: a.Username,
						GroupID: a.GroupID, GroupName: a.GroupName, Reason: "the directory returned no users; nothing is removed on an empty read (would have: " + a.Reason + ")"})
				default:
					kept = append(kept, a)
				}
			}
			p.actions[i] = kept
		}
		p.holds = append(p.holds, model.Hold{Code: HoldEmptyDirectory,
			Message: "the directory returned no users; no account is disabled, deleted or removed from a group (" + strconv.Itoa(n) + " such changes withheld)"})
	}

	removals := 0
	for _, a := range p.actions[phaseIndex(model.PhaseProvisioning)] {
		if a.Kind == model.ActDeleteUser || a.Kind == model.ActDisableUser {
			removals++
		}
	}
	// A partial read (refresh one user) says nothing about the directory's
	// size: its percentage is of the last good run's count, and without one
	// only the count threshold applies.
	base := len(p.dirUsers)
	if !p.snap.Complete {
		base = p.in.Baseline.DirectoryUsers
	}
	if removals > 0 {
		switch {
		case p.set.DeleteThresholdCount > 0 && removals > p.set.DeleteThresholdCount:
			p.holds = append(p.holds, model.Hold{Code: HoldDeleteThreshold,
				Message: "this run deletes or disables " + strconv.Itoa(removals) + " accounts, more than the threshold of " + strconv.Itoa(p.set.DeleteThresholdCount)})
		case p.set.DeleteThresholdPercent > 0 && base > 0 && removals*100 > p.set.DeleteThresholdPercent*base:
			p.holds = append(p.holds, model.Hold{Code: HoldDeleteThreshold,
				Message: "this run deletes or disables " + strconv.Itoa(removals) + " accounts, more than " + strconv.Itoa(p.set.DeleteThresholdPercent) + " % of " + strconv.Itoa(base) + " directory users"})
		}
	}

	if prev := p.in.Baseline.DirectoryUsers; p.snap.Complete && prev > 0 && p.set.ShrinkThresholdPercent > 0 {
		if n := len(p.dirUsers); (prev-n)*100 > p.set.ShrinkThresholdPercent*prev {
			p.holds = append(p.holds, model.Hold{Code: HoldShrink,
				Message: "the directory returned " + strconv.Itoa(n) + " users, " + strconv.Itoa((prev-n)*100/prev) + " % fewer than the " + strconv.Itoa(prev) + " of the last good run (threshold " + strconv.Itoa(p.set.ShrinkThresholdPercent) + " %)"})
		}
	}

	for _, k := range p.defKeys {
		n := p.blanked[k]
		if n == 0 {
			continue
		}
		filled := p.in.Baseline.AttributeFilled[k]
		if filled == 0 {
			filled = p.filled(k)
		}
		if n > BlankMinUsers && n*100 >= filled*BlankPercent {
			p.holds = append(p.holds, model.Hold{Code: HoldBlankAttribute,
				Message: "enterprise attribute " + quote(k) + " becomes blank for " + strconv.Itoa(n) + " users who had it filled (" + strconv.Itoa(filled) + " filled at the last good run)"})
		}
	}
}

// filled counts this source's accounts with a value for attribute k.
func (p *planner) filled(k string) int {
	n := 0
	for _, u := range p.managed {
		if u.Attributes[k] != "" {
			n++
		}
	}
	return n
}
