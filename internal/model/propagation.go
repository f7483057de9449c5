package model

// AttrChange is one attribute of an object changing from Old to New ("" =
// no value).
type AttrChange struct {
	Key, Old, New string
}

// PropagateToDevice is user → device propagation (SPEC §6), the one rule
// both a console, API or import edit (internal/store) and a directory sync
// (internal/syncplan) apply: when a user's attributes change from userOld
// to userNew, a device assigned to them takes the user's new value of every
// enterprise-group key (egKeys) whose value changed ("" clears it), unless
// it holds that value already. Keys the user did not change are left
// alone, so a device edited by hand keeps its values until the user's
// change. The changes come in egKeys order; none when the setting is off
// is the caller's decision.
func PropagateToDevice(egKeys []string, userOld, userNew, device Attributes) []AttrChange {
	var out []AttrChange
	for _, k := range egKeys {
		nw := userNew[k]
		if userOld[k] == nw || device[k] == nw {
			continue
		}
		out = append(out, AttrChange{Key: k, Old: device[k], New: nw})
	}
	return out
}
