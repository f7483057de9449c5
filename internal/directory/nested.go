package directory

import (
	"context"
	"encoding/binary"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/model"
)

// stableID renders an external id value: a 16-byte binary objectGUID as a
// GUID string, anything else as text. With guid (the attribute is
// objectGUID) a value of another length is no id: "".
func stableID(v []byte, guid bool) string {
	if len(v) == 16 && (guid || !utf8.Valid(v)) {
		return formatGUID(v)
	}
	if guid {
		return ""
	}
	return string(v)
}

// sidString renders a binary security identifier as S-1-5-21-….
func sidString(b []byte) (string, bool) {
	if len(b) < 8 || b[0] != 1 || len(b) != 8+4*int(b[1]) {
		return "", false
	}
	var auth uint64
	for _, c := range b[2:8] {
		auth = auth<<8 | uint64(c)
	}
	var sb strings.Builder
	sb.WriteString("S-1-")
	sb.WriteString(strconv.FormatUint(auth, 10))
	for i := 0; i < int(b[1]); i++ {
		sb.WriteByte('-')
		sb.WriteString(strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[8+4*i:])), 10))
	}
	return sb.String(), true
}

// byDNBatch is how many DNs one AD search looks up (an OR of
// distinguishedName equalities).
const byDNBatch = 100

// resolveNested follows member values that are neither users nor groups
// read so far: each is looked up by DN and, when it is a group matching the
// group filter (wherever it is in the directory), added with its members,
// whose unknown values are followed in turn. Every DN is looked up once,
// so cycles end. Values that are no group stay Unresolved.
func (s *session) resolveNested(ctx context.Context, src *model.Source, r *groupReader) error {
	gb := r.gb
	groupF := orAll(src.GroupFilter)
	tried := map[string]bool{}
	scanned := 0 // groups whose other values were looked at
	for {
		var cand []string
		for ; scanned < len(gb.groups); scanned++ {
			for _, pm := range gb.other[scanned] {
				if pm.uid {
					continue
				}
				v := pm.v
				k := memberKey(v)
				if gb.known[k] || tried[k] {
					continue
				}
				tried[k] = true
				dn := StripUID(v)
				if _, err := ldap.ParseDN(dn); err != nil {
					continue
				}
				cand = append(cand, dn)
			}
		}
		if len(cand) == 0 {
			return nil
		}
		if src.Kind == model.SourceActiveDirectory {
			bySuffix := map[string][]string{}
			var order []string
			for _, dn := range cand {
				suf := dcSuffix(dn)
				if _, ok := bySuffix[suf]; !ok {
					order = append(order, suf)
				}
				bySuffix[suf] = append(bySuffix[suf], dn)
			}
			for _, suf := range order {
				dns := bySuffix[suf]
				if suf == "" {
					if err := s.groupsByBase(ctx, src, r, dns, groupF); err != nil {
						return err
					}
					continue
				}
				for len(dns) > 0 {
					n := min(len(dns), byDNBatch)
					var f strings.Builder
					f.WriteString("(&" + groupF + "(|")
					for _, dn := range dns[:n] {
						f.WriteString("(distinguishedName=" + ldap.EscapeFilter(dn) + ")")
					}
					f.WriteString("))")
					dns = dns[n:]
					err := s.pagedSearch(ctx, src, "read nested groups", suf, f.String(), r.attrs(), func(e *rawEntry) error {
						r.entry(e, true)
						return nil
					})
					if err != nil {
						return err
					}
				}
			}
		} else if err := s.groupsByBase(ctx, src, r, cand, groupF); err != nil {
			return err
		}
		if err := r.ranges(ctx, s, src); err != nil {
			return err
		}
	}
}

// groupsByBase reads each DN with a base search under the group filter;
// a DN that does not exist is no group.
func (s *session) groupsByBase(ctx context.Context, src *model.Source, r *groupReader, dns []string, groupF string) error {
	fp, err := ldap.CompileFilter(groupF)
	if err != nil {
		return newError(src, KindFilter, s.url, err, "group filter %q does not parse: %v", groupF, filterReason(err))
	}
	for _, dn := range dns {
		q := &searchReq{base: dn, scope: ldap.ScopeBaseObject, filter: fp, attrs: r.attrs()}
		err := s.w.search(q, func(e *rawEntry) error {
			r.entry(e, true)
			return nil
		})
		if err != nil && !ldap.IsErrorAnyOf(err, ldap.LDAPResultNoSuchObject, ldap.LDAPResultInvalidDNSyntax, ldap.LDAPResultReferral) {
			return classify(ctx, src, s.url, "read nested group "+dn, err)
		}
		if ctx.Err() != nil {
			return classify(ctx, src, s.url, "read nested groups", ctx.Err())
		}
	}
	return nil
}

// dcSuffix returns the trailing DC= components of dn (the AD domain's
// naming context), "" when there are none.
func dcSuffix(dn string) string {
	p, err := ldap.ParseDN(dn)
	if err != nil {
		return ""
	}
	i := len(p.RDNs)
	for i > 0 {
		r := p.RDNs[i-1]
		if len(r.Attributes) != 1 || !strings.EqualFold(r.Attributes[0].Type, "dc") {
			break
		}
		i--
	}
	if i == len(p.RDNs) {
		return ""
	}
	parts := make([]string, 0, len(p.RDNs)-i)
	for _, r := range p.RDNs[i:] {
		parts = append(parts, "DC="+ldap.EscapeDN(r.Attributes[0].Value))
	}
	return strings.Join(parts, ",")
}

// FoundEntry is what FindByID found.
type FoundEntry struct {
	DN      string
	IsGroup bool     // matches the group filter
	Classes []string // objectClass values
}

// FindByID looks a stable id (objectGUID / entryUUID, the source's
// external id attribute) up anywhere in the directory: below the domain
// (the DC= part of the group base), or the group base without one. ok is
// false when no entry has it. An id that cannot be one (a GUID of the
// wrong form) is a KindConfig error.
func (c *Client) FindByID(ctx context.Context, src *model.Source, id string) (FoundEntry, bool, error) {
	var fe FoundEntry
	attr := strings.TrimSpace(src.Attributes.ExternalID)
	if attr == "" {
		return fe, false, newError(src, KindConfig, "", nil, "no external id attribute configured")
	}
	value := ldap.EscapeFilter(id)
	if strings.EqualFold(attr, "objectGUID") {
		b, err := parseGUID(id)
		if err != nil {
			return fe, false, newError(src, KindConfig, "", err, "the stable id %q is not a GUID (objectGUID has 16 bytes)", id)
		}
		value = escapeFilterBytes(b)
	}
	s, err := c.connect(ctx, src)
	if err != nil {
		return fe, false, err
	}
	defer s.Close()
	gbase := orDefault(src.GroupBaseDN, src.UserBaseDN)
	base := dcSuffix(gbase)
	if base == "" {
		base = gbase
	}
	n := 0
	err = s.pagedSearch(ctx, src, "find "+attr+" "+id, base, "("+attr+"="+value+")", []string{"objectClass"}, func(e *rawEntry) error {
		n++
		fe.DN = string(e.dn)
		fe.Classes = nil
		for _, a := range e.attrs {
			if strings.EqualFold(string(a.name), "objectClass") {
				for _, v := range a.vals {
					fe.Classes = append(fe.Classes, string(v))
				}
			}
		}
		return nil
	})
	if err != nil {
		return fe, false, err
	}
	if n == 0 {
		return fe, false, nil
	}
	if n > 1 {
		return fe, false, newError(src, KindProtocol, s.url, nil, "%d entries share the stable id %q", n, id)
	}
	fp, err := ldap.CompileFilter(orAll(src.GroupFilter))
	if err != nil {
		return fe, false, newError(src, KindFilter, s.url, err, "group filter %q does not parse: %v", orAll(src.GroupFilter), filterReason(err))
	}
	err = s.w.search(&searchReq{base: fe.DN, scope: ldap.ScopeBaseObject, filter: fp, attrs: []string{"1.1"}}, func(*rawEntry) error {
		fe.IsGroup = true
		return nil
	})
	if err != nil {
		return fe, false, classify(ctx, src, s.url, "read "+fe.DN, err)
	}
	return fe, true, nil
}
