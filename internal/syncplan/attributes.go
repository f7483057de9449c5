package syncplan

import (
	"strings"

	"github.com/idsync/idsync/internal/model"
)

const phAttr = model.PhaseAttributes

// attributes brings identity fields and enterprise attributes of existing
// accounts in line with the directory.
func (p *planner) attributes() {
	for _, d := range p.dirUsers {
		u := p.managed[d.ExternalID]
		if u == nil || p.deleting[u.ID] {
			continue
		}
		p.identity(u, d)
		var next model.Attributes
		for _, k := range p.defKeys {
			old, nw := u.Attributes[k], d.Attributes[k]
			if old == nw {
				continue
			}
			if next == nil {
				next = u.Attributes.Clone()
				if next == nil {
					next = model.Attributes{}
				}
			}
			if nw == "" {
				delete(next, k)
			} else {
				next[k] = nw
			}
			def := p.defs[k]
			reason := "the directory value of " + def.Name + " changed"
			if def.Name == "" {
				reason = "the directory value of " + k + " changed"
			}
			if old != "" && nw == "" {
				p.blanked[k]++
				reason += " to blank"
			}
			p.act(model.Action{Phase: phAttr, Kind: model.ActUpdateAttribute, Attribute: k, Old: old, New: nw, Reason: reason}, u, nil)
			if def.EnterpriseGroup {
				p.egChanges = append(p.egChanges, egChange{userID: u.ID, key: k, old: old, new: nw})
			}
		}
		if next != nil {
			p.future[u.ID] = next
		}
	}
}

// identity plans an update_user when username, e-mail, display name or DN changed.
func (p *planner) identity(u *model.User, d *model.DirUser) {
	var changed []string
	username := u.Username
	if d.Username != u.Username && strings.TrimSpace(d.Username) != "" {
		lower := strings.ToLower(d.Username)
		if id, taken := p.usernames[lower]; taken && id != u.ID {
			p.skip(phAttr, model.ActUpdateUser, u, nil, "the directory renamed the user to "+quote(d.Username)+", which another account already uses; username kept")
		} else {
			changed = append(changed, "username "+quote(u.Username)+" → "+quote(d.Username))
			username = d.Username
			if !strings.EqualFold(u.Username, d.Username) {
				delete(p.usernames, strings.ToLower(u.Username))
			}
			p.usernames[lower] = u.ID
		}
	}
	if d.Email != u.Email {
		changed = append(changed, "e-mail "+quote(u.Email)+" → "+quote(d.Email))
	}
	if d.DisplayName != u.DisplayName {
		changed = append(changed, "display name "+quote(u.DisplayName)+" → "+quote(d.DisplayName))
	}
	if d.DN != u.DN {
		changed = append(changed, "DN "+quote(u.DN)+" → "+quote(d.DN))
	}
	if len(changed) == 0 {
		return
	}
	nu := *u
	nu.Username, nu.Email, nu.DisplayName, nu.DN = username, d.Email, d.DisplayName, d.DN
	nu.Attributes = u.Attributes.Clone()
	p.act(model.Action{Phase: phAttr, Kind: model.ActUpdateUser, User: &nu, Reason: "changed in the directory: " + strings.Join(changed, ", ")}, u, nil)
}
