package syncplan

import (
	"cmp"
	"slices"
	"strings"

	"github.com/idsync/idsync/internal/model"
)

// ReconcileDevices returns the plan of "Reconcile devices now" (SPEC §6):
//
//   - user → device, when Settings.SyncEnterpriseGroupsToDevices is on: every
//     assigned device whose enterprise-group value differs from its user's
//     non-blank value gets update_device;
//   - device → user, when Settings.SyncDevicesToUsers is on: where the
//     user's devices agree on one non-blank value that differs from the
//     user's, update_user_from_device; devices that disagree are a Skip
//     listing every value. A directory-managed user's non-blank value comes
//     from the directory and is never overwritten (a Skip says so).
//
// A key settled by the reverse direction (changed or in conflict) is not
// also pushed forward. With both settings off the plan is one Skip. System
// accounts are never changed. It never fails; a nil state gives an empty plan.
func ReconcileDevices(st *model.State) *model.Plan {
	out := &model.Plan{StateHash: StateHash(st)}
	if st == nil {
		return out
	}
	set := st.Settings
	if !set.SyncEnterpriseGroupsToDevices && !set.SyncDevicesToUsers {
		out.Skips = append(out.Skips, model.Skip{Phase: model.PhaseDevices, Kind: model.ActUpdateDevice,
			Reason: "both \"Synchronize enterprise groups in user and device properties\" and the device → user direction are off; nothing to reconcile"})
		return out
	}
	var keys []string
	for _, d := range st.AttributeDefs {
		if d.EnterpriseGroup && d.Key != "" && !slices.Contains(keys, d.Key) {
			keys = append(keys, d.Key)
		}
	}
	slices.Sort(keys)
	devs := map[int64][]*model.Device{}
	for i := range st.Devices {
		if d := &st.Devices[i]; d.UserID != 0 {
			devs[d.UserID] = append(devs[d.UserID], d)
		}
	}
	users := make([]*model.User, 0, len(devs))
	for i := range st.Users {
		if u := &st.Users[i]; len(devs[u.ID]) > 0 {
			users = append(users, u)
		}
	}
	slices.SortFunc(users, func(a, b *model.User) int { return cmp.Compare(a.ID, b.ID) })

	const ph = model.PhaseDevices
	for _, u := range users {
		ds := devs[u.ID]
		slices.SortFunc(ds, func(a, b *model.Device) int { return cmp.Compare(a.ID, b.ID) })
		if u.Origin == model.OriginSystem {
			continue
		}
		for _, k := range keys {
			uv := u.Attributes[k]
			if set.SyncDevicesToUsers {
				vals, v := distinctValues(ds, k), deviceValue(ds, k)
				switch {
				case len(vals) > 1:
					out.Skips = append(out.Skips, model.Skip{Phase: ph, Kind: model.ActUpdateUserFromDev, UserID: u.ID, ExternalID: u.ExternalID, Username: u.Username,
						Reason: "devices disagree on " + k + ": " + strings.Join(vals, "; ") + "; user's value " + quote(uv) + " left as is"})
					continue
				case len(vals) == 1 && v != uv:
					if u.Managed() && uv != "" {
						out.Skips = append(out.Skips, model.Skip{Phase: ph, Kind: model.ActUpdateUserFromDev, UserID: u.ID, ExternalID: u.ExternalID, Username: u.Username,
							Reason: "devices say " + k + " = " + quote(v) + " but the user's value " + quote(uv) + " comes from the directory, which wins"})
						break
					}
					reason := "the user's only device says " + k + " = " + quote(v)
					if len(ds) > 1 {
						reason = "all the user's devices with a value agree on " + k + " = " + quote(v)
					}
					out.Actions = append(out.Actions, model.Action{Phase: ph, Kind: model.ActUpdateUserFromDev, UserID: u.ID, ExternalID: u.ExternalID, Username: u.Username,
						Attribute: k, Old: uv, New: v, DeviceID: ds[0].ID, Reason: reason})
					continue
				}
			}
			if !set.SyncEnterpriseGroupsToDevices || uv == "" {
				continue
			}
			for _, d := range ds {
				if old := d.Attributes[k]; old != uv {
					out.Actions = append(out.Actions, model.Action{Phase: ph, Kind: model.ActUpdateDevice, UserID: u.ID, ExternalID: u.ExternalID, Username: u.Username,
						DeviceID: d.ID, Attribute: k, Old: old, New: uv, Reason: "aligned with the assigned user's " + k + " (device " + quote(d.Name) + ")"})
				}
			}
		}
	}
	return out
}

// distinctValues lists the different non-blank values of k on ds, each with
// the devices carrying it, sorted.
func distinctValues(ds []*model.Device, k string) []string {
	by := map[string][]string{}
	var order []string
	for _, d := range ds {
		v := d.Attributes[k]
		if v == "" {
			continue
		}
		if _, ok := by[v]; !ok {
			order = append(order, v)
		}
		by[v] = append(by[v], d.Name)
	}
	if len(order) == 1 {
		return []string{quote(order[0])}
	}
	slices.Sort(order)
	out := make([]string, len(order))
	for i, v := range order {
		out[i] = quote(v) + " on " + strings.Join(by[v], ", ")
	}
	return out
}

func deviceValue(ds []*model.Device, k string) string {
	for _, d := range ds {
		if v := d.Attributes[k]; v != "" {
			return v
		}
	}
	return ""
}
