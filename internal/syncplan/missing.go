package syncplan

import (
	"strconv"
	"strings"

	"github.com/idsync/idsync/internal/model"
)

const provMissingReason = "not in any provisioning group, but a provisioning group is missing from the directory read; not deprovisioned"

// deprovKind is the action deprovisioning takes as configured: what a
// withheld deprovisioning would have done.
func (p *planner) deprovKind() model.ActionKind {
	if p.set.DeprovisionAction == model.DeprovisionDisable {
		return model.ActDisableUser
	}
	return model.ActDeleteUser
}

func (p *planner) deprovName() string {
	switch p.set.DeprovisionAction {
	case model.DeprovisionDisable:
		return "deprovisioning action: disable"
	case model.DeprovisionDelete:
		return "deprovisioning action: delete"
	}
	return "deprovisioning action: report only"
}

// missingGroups holds a full sync in which a mapped directory group was not
// found (renamed, moved or deleted, or its stable id now names something
// else) and that withholds removals or deprovisionings because of it: they
// are skip lines, and the hold makes the run say so instead of succeeding
// quietly. (A missing group that withholds nothing is a skip line and a
// banner, not a hold.)
func (p *planner) missingGroups() {
	if !p.snap.Complete {
		return
	}
	count := func(match func(model.Skip) bool) int {
		n := 0
		for _, sk := range p.skips {
			if sk.UserID != 0 && match(sk) {
				n++
			}
		}
		return n
	}
	for _, pm := range p.provMaps {
		if pm.found {
			continue
		}
		n := count(func(sk model.Skip) bool { return strings.HasPrefix(sk.Reason, provMissingReason) })
		if n == 0 {
			continue
		}
		p.holds = append(p.holds, model.Hold{Code: HoldMissingGroup, Message: "provisioning group " + quote(pm.m.GroupDN) +
			" was not found in the directory (renamed, moved or deleted?); " + strconv.Itoa(n) + " deprovisionings it would cause (" + p.deprovName() + ") are withheld. Fix or remove the mapping."})
	}
	for _, sm := range p.sgMaps {
		if sm.status != mapMissing {
			continue
		}
		q := quote(sm.m.GroupDN)
		n := count(func(sk model.Skip) bool {
			return sk.Kind == model.ActRemoveServiceGroup && strings.Contains(sk.Reason, "mapped group "+q+" was not read")
		})
		if n == 0 {
			continue
		}
		p.holds = append(p.holds, model.Hold{Code: HoldMissingGroup, Message: "directory group " + q + " mapped to service group " + quote(sm.sg.Name) +
			" was not found in the directory (renamed, moved or deleted?); " + strconv.Itoa(n) + " removals from " + quote(sm.sg.Name) + " it would cause are withheld. Fix or remove the mapping."})
	}
}
