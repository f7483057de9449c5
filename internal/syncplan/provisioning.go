package syncplan

import (
	"strconv"
	"strings"

	"github.com/idsync/idsync/internal/model"
)

const phProv = model.PhaseProvisioning

// provisioning creates, disables, deletes and re-enables accounts (SPEC §3).
func (p *planner) provisioning() {
	if p.snap.Complete {
		for _, pm := range p.provMaps {
			if !pm.found {
				p.skips = append(p.skips, model.Skip{Phase: phProv, Kind: p.deprovKind(),
					Reason: "provisioning mapping " + quote(pm.m.GroupDN) + ": the directory group was not found; nobody is deprovisioned (" + p.deprovName() + ") for being outside the provisioning groups until it is found again"})
			}
		}
	}
	hasProv := len(p.provMaps) > 0
	if p.set.DeprovisioningEnabled && !hasProv && len(p.managed) > 0 {
		p.skips = append(p.skips, model.Skip{Phase: phProv, Kind: p.deprovKind(),
			Reason: "deprovisioning is on but no provisioning mapping exists for this source; nobody is deprovisioned for being outside the provisioning groups"})
	}

	// Existing accounts first, so that a username freed by a delete can be
	// taken by a new account in the same run (apply runs deletes first).
	for _, d := range p.dirUsers {
		want, inProv := p.wantType[d.ExternalID]
		u := p.managed[d.ExternalID]
		if u == nil {
			continue
		}
		if p.set.ProvisioningEnabled && inProv && u.AccountType != want {
			p.skip(phProv, model.ActUpdateUser, u, nil, "account type conflict: the account is "+typeName(u.AccountType)+
				" but its provisioning mapping now asks for "+typeName(want)+"; left as it is (remove and re-add the user to change the type)")
		}
		switch {
		case d.Disabled:
			if u.Status != model.StatusDisabled {
				p.act(model.Action{Phase: phProv, Kind: model.ActDisableUser, Reason: "disabled in the directory"}, u, nil)
			}
		case p.set.DeprovisioningEnabled && hasProv && !inProv:
			if !p.provKnown {
				p.skip(phProv, p.deprovKind(), u, nil, provMissingReason+" ("+p.deprovName()+")")
				continue
			}
			p.deprovision(u, "not in any provisioning-mapped directory group")
		case u.Status == model.StatusDisabled && u.DisabledBySync:
			p.act(model.Action{Phase: phProv, Kind: model.ActEnableUser, Reason: "back in the directory and enabled there; it was disabled by sync"}, u, nil)
		}
	}

	for _, u := range p.gone {
		if p.set.DeprovisioningEnabled {
			p.deprovision(u, "no longer in the directory")
		} else {
			p.skip(phProv, model.ActDeleteUser, u, nil, "no longer in the directory; deprovisioning is off, so the account is kept")
		}
	}

	for _, d := range p.dirUsers {
		if p.managed[d.ExternalID] == nil {
			want, inProv := p.wantType[d.ExternalID]
			p.provisionNew(d, want, inProv)
		}
	}
}

// provisionNew decides whether the directory user d, who has no account, gets one.
func (p *planner) provisionNew(d *model.DirUser, want model.AccountType, inProv bool) {
	switch {
	case !p.set.ProvisioningEnabled:
		reason := "no matching account and provisioning is off: not added"
		if gs := p.mappedGroupNames(d.ExternalID); gs != "" {
			reason += ", so not placed in service group(s) " + gs
		}
		p.skip(phProv, model.ActCreateUser, nil, d, reason)
		return
	case !inProv && !p.provKnown:
		p.skip(phProv, model.ActCreateUser, nil, d, "no matching account and not in any provisioning group that was read (some were not): not added")
		return
	case !inProv:
		p.skip(phProv, model.ActCreateUser, nil, d, "no matching account and not in any provisioning-mapped directory group: not added")
		return
	case d.Disabled:
		p.skip(phProv, model.ActCreateUser, nil, d, "disabled in the directory: not added")
		return
	case strings.TrimSpace(d.Username) == "":
		p.skip(phProv, model.ActCreateUser, nil, d, "the directory entry "+quote(d.DN)+" has no username: not added")
		return
	}
	lower := strings.ToLower(d.Username)
	if id, taken := p.usernames[lower]; taken {
		who := "another directory user added by this sync"
		if o := p.userByID[id]; o != nil {
			who = "existing " + string(o.Origin) + " account #" + itoa(o.ID)
		}
		p.skip(phProv, model.ActCreateUser, nil, d, "username "+quote(d.Username)+" is already used by "+who+": not added")
		return
	}
	p.usernames[lower] = -1
	attrs := make(model.Attributes, len(p.defKeys))
	for _, k := range p.defKeys {
		if v := d.Attributes[k]; v != "" {
			attrs[k] = v
		}
	}
	nu := &model.User{
		Username: d.Username, Email: d.Email, DisplayName: d.DisplayName,
		Status: model.StatusActive, Origin: model.OriginDirectory, AccountType: want,
		SourceID: p.src, ExternalID: d.ExternalID, DN: d.DN, Attributes: attrs,
		CreatedAt: p.in.Now, UpdatedAt: p.in.Now,
	}
	p.creating = append(p.creating, nu)
	p.createByExt[d.ExternalID] = nu
	dn := p.provGroupFor(d.ExternalID, want)
	both := want == model.AccountDeviceEnabled && p.inProvOfType(d.ExternalID, model.AccountAdministrator)
	var b int64
	if both {
		b = 1
	}
	reason := p.reason(reasonKey{kind: 3, b: b, s: dn}, func() string {
		r := "in provisioning group " + quote(dn) + ": added as " + typeName(want)
		if both {
			r += " (also in an administrator provisioning group; device-enabled wins)"
		}
		return r
	})
	// nu is never changed after this point, so the action may share it.
	p.act(model.Action{Phase: phProv, Kind: model.ActCreateUser, User: nu, Reason: reason}, nil, nu)
}

// deprovision applies the configured deprovisioning action to u.
func (p *planner) deprovision(u *model.User, why string) {
	switch p.set.DeprovisionAction {
	case model.DeprovisionDelete:
		p.deleting[u.ID] = true
		if k := strings.ToLower(u.Username); p.usernames[k] == u.ID {
			delete(p.usernames, k)
		}
		p.act(model.Action{Phase: phProv, Kind: model.ActDeleteUser, Reason: why + "; deprovisioning action: delete"}, u, nil)
	case model.DeprovisionDisable:
		if u.Status != model.StatusDisabled {
			p.act(model.Action{Phase: phProv, Kind: model.ActDisableUser, Reason: why + "; deprovisioning action: disable"}, u, nil)
		}
	default:
		p.skip(phProv, model.ActDeleteUser, u, nil, why+"; deprovisioning action is report only")
	}
}

// provGroupFor names the first provisioning group (in mapping order) that
// asks for type t for the user.
func (p *planner) provGroupFor(ext string, t model.AccountType) string {
	for _, pm := range p.provMaps {
		if _, ok := pm.members[ext]; ok && normType(pm.m.AccountType) == t {
			return pm.m.GroupDN
		}
	}
	return ""
}

func (p *planner) inProvOfType(ext string, t model.AccountType) bool {
	return p.provGroupFor(ext, t) != ""
}

// mappedGroupNames lists the service groups mappings would place ext in.
func (p *planner) mappedGroupNames(ext string) string {
	var names []string
	seen := map[int64]bool{}
	for _, sm := range p.sgMaps {
		if sm.status != mapOK || seen[sm.sg.ID] {
			continue
		}
		if _, ok := sm.members[ext]; ok {
			seen[sm.sg.ID] = true
			names = append(names, quote(sm.sg.Name))
		}
	}
	return strings.Join(names, ", ")
}

func normType(t model.AccountType) model.AccountType {
	if t == model.AccountDeviceEnabled {
		return t
	}
	return model.AccountAdministrator
}

func typeName(t model.AccountType) string {
	if t == model.AccountDeviceEnabled {
		return "a device-enabled user"
	}
	return "an administrator (not device-enabled)"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
