package memldap

import (
	"strconv"
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
	"github.com/jimlambrt/gldap"
)

func (s *Server) search(w *gldap.ResponseWriter, r *gldap.Request) {
	done := r.NewSearchDoneResponse(gldap.WithResponseCode(gldap.ResultSuccess))
	defer func() { _ = w.Write(done) }()
	m, err := r.GetSearchMessage()
	if err != nil {
		done.SetResultCode(gldap.ResultProtocolError)
		return
	}
	s.mu.Lock()
	ok := s.bound[r.ConnectionID()]
	s.mu.Unlock()
	if !ok {
		done.SetResultCode(gldap.ResultInsufficientAccessRights)
		done.SetDiagnosticMessage("bind first")
		return
	}
	f, err := ldap.CompileFilter(m.Filter)
	if err != nil {
		done.SetResultCode(gldap.ResultProtocolError)
		done.SetDiagnosticMessage("bad filter")
		return
	}
	base := normDN(m.BaseDN)
	if _, found := s.byDN[base]; !found && base != "" {
		done.SetResultCode(gldap.ResultNoSuchObject)
		done.SetDiagnosticMessage("no such object: " + m.BaseDN)
		return
	}
	var hits []int
	for i := range s.entries {
		e := &s.entries[i]
		if inScope(e.ndn, base, m.Scope) && s.match(f, e) {
			hits = append(hits, i)
		}
	}
	var paging *gldap.ControlPaging
	for _, c := range m.Controls {
		if p, ok := c.(*gldap.ControlPaging); ok {
			paging = p
		}
	}
	from, to := 0, len(hits)
	if paging != nil && s.opts.MaxPageSize > 0 && int(paging.PagingSize) > s.opts.MaxPageSize {
		paging.PagingSize = uint32(s.opts.MaxPageSize)
	}
	if paging != nil {
		if len(paging.Cookie) > 0 {
			n, err := strconv.Atoi(string(paging.Cookie))
			if err != nil || n < 0 || n > len(hits) {
				done.SetResultCode(gldap.ResultUnwillingToPerform)
				done.SetDiagnosticMessage("bad paging cookie")
				return
			}
			from = n
		}
		if paging.PagingSize == 0 { // abandon the paged search
			to = from
		} else if from+int(paging.PagingSize) < len(hits) {
			to = from + int(paging.PagingSize)
		}
	}
	limited := false
	if paging == nil && s.opts.MaxPageSize > 0 && to-from > s.opts.MaxPageSize {
		to, limited = from+s.opts.MaxPageSize, true
	}
	if m.SizeLimit > 0 && to-from > int(m.SizeLimit) {
		to = from + int(m.SizeLimit)
		limited = true
	}
	want := s.wanted(m.Attributes)
	for _, i := range hits[from:to] {
		e := &s.entries[i]
		resp := r.NewSearchResponseEntry(e.dn)
		s.addAttrs(resp, e, want)
		if err := w.Write(resp); err != nil {
			return
		}
	}
	if paging != nil {
		next, _ := gldap.NewControlPaging(paging.PagingSize)
		if to < len(hits) && paging.PagingSize > 0 && !limited {
			next.SetCookie([]byte(strconv.Itoa(to)))
		}
		done.SetControls(next)
	}
	if limited {
		done.SetResultCode(gldap.ResultSizeLimitExceeded)
	}
}

type wantAttrs struct {
	all, oper bool
	names     map[string]bool
	ranges    map[string]int // attribute → first value index asked for
}

func (s *Server) wanted(list []string) wantAttrs {
	w := wantAttrs{names: map[string]bool{}, ranges: map[string]int{}}
	if len(list) == 0 {
		w.all = true
	}
	for _, a := range list {
		la := strings.ToLower(a)
		switch la {
		case "*":
			w.all = true
		case "+":
			w.oper = true
		case "1.1":
		default:
			if name, rng, ok := strings.Cut(la, ";range="); ok {
				lo, _, _ := strings.Cut(rng, "-")
				n, err := strconv.Atoi(lo)
				if err == nil && n >= 0 {
					w.ranges[name] = n
				}
				continue
			}
			w.names[la] = true
		}
	}
	return w
}

func (s *Server) addAttrs(resp *gldap.SearchResponseEntry, e *entry, w wantAttrs) {
	for _, a := range e.attrs {
		if lo, ok := w.ranges[a.lname]; ok {
			s.addRange(resp, a, lo)
			continue
		}
		if !(w.names[a.lname] || (w.all && !s.oper[a.lname]) || (w.oper && s.oper[a.lname])) {
			continue
		}
		if s.opts.RangeSize > 0 && len(a.values) > s.opts.RangeSize {
			s.addRange(resp, a, 0)
			continue
		}
		resp.AddAttribute(a.name, a.values)
	}
}

func (s *Server) addRange(resp *gldap.SearchResponseEntry, a attr, lo int) {
	size := s.opts.RangeSize
	if size <= 0 {
		size = len(a.values) + 1
	}
	if lo > len(a.values) {
		lo = len(a.values)
	}
	if s.opts.NeverEndingRange {
		lo = 0
	}
	hi := lo + size
	end := strconv.Itoa(hi - 1)
	if hi >= len(a.values) {
		hi, end = len(a.values), "*"
	}
	resp.AddAttribute(a.name+";range="+strconv.Itoa(lo)+"-"+end, a.values[lo:hi])
}

func inScope(ndn, base string, scope gldap.Scope) bool {
	switch scope {
	case gldap.BaseObject:
		return ndn == base
	case gldap.SingleLevel:
		return parent(ndn) == base
	default:
		return base == "" || ndn == base || strings.HasSuffix(ndn, ","+base)
	}
}

func parent(ndn string) string {
	for i := 0; i < len(ndn); i++ {
		switch ndn[i] {
		case '\\':
			i++
		case ',':
			return ndn[i+1:]
		}
	}
	return ""
}

func (e *entry) values(lname string) ([]string, bool) {
	for _, a := range e.attrs {
		if a.lname == lname {
			return a.values, true
		}
	}
	return nil, false
}

// dnValued attributes compare as DNs.
func dnValued(lname string) bool {
	switch lname {
	case "member", "uniquemember", "memberof", "distinguishedname", "manager", "entrydn":
		return true
	}
	return false
}

func binaryValued(lname string) bool {
	return lname == "objectguid" || lname == "objectsid"
}

func (s *Server) match(f *ber.Packet, e *entry) bool {
	switch f.Tag {
	case ldap.FilterAnd:
		for _, c := range f.Children {
			if !s.match(c, e) {
				return false
			}
		}
		return true
	case ldap.FilterOr:
		for _, c := range f.Children {
			if s.match(c, e) {
				return true
			}
		}
		return false
	case ldap.FilterNot:
		return len(f.Children) == 1 && !s.match(f.Children[0], e)
	case ldap.FilterPresent:
		name := strings.ToLower(f.Data.String())
		if name == "objectclass" {
			return true
		}
		vals, ok := e.values(name)
		return ok && len(vals) > 0
	case ldap.FilterEqualityMatch, ldap.FilterApproxMatch, ldap.FilterGreaterOrEqual, ldap.FilterLessOrEqual:
		if len(f.Children) != 2 {
			return false
		}
		name := strings.ToLower(f.Children[0].Data.String())
		want := f.Children[1].Data.String()
		if name == "entrydn" || name == "distinguishedname" {
			if _, has := e.values(name); !has && f.Tag == ldap.FilterEqualityMatch {
				return normDN(want) == e.ndn
			}
		}
		vals, _ := e.values(name)
		for _, v := range vals {
			if compare(f.Tag, name, v, want) {
				return true
			}
		}
		return false
	case ldap.FilterSubstrings:
		if len(f.Children) != 2 {
			return false
		}
		name := strings.ToLower(f.Children[0].Data.String())
		vals, _ := e.values(name)
		for _, v := range vals {
			if substringMatch(strings.ToLower(v), f.Children[1].Children) {
				return true
			}
		}
		return false
	}
	// Extensible matches are not supported: they match nothing.
	return false
}

func compare(tag ber.Tag, lname, have, want string) bool {
	switch tag {
	case ldap.FilterGreaterOrEqual, ldap.FilterLessOrEqual:
		c := 0
		hn, herr := strconv.ParseInt(have, 10, 64)
		wn, werr := strconv.ParseInt(want, 10, 64)
		if herr == nil && werr == nil {
			switch {
			case hn < wn:
				c = -1
			case hn > wn:
				c = 1
			}
		} else {
			c = strings.Compare(strings.ToLower(have), strings.ToLower(want))
		}
		if tag == ldap.FilterGreaterOrEqual {
			return c >= 0
		}
		return c <= 0
	}
	switch {
	case binaryValued(lname):
		return have == want
	case lname == "memberuid": // nis.schema: caseExactIA5Match
		return strings.TrimSpace(have) == strings.TrimSpace(want)
	case lname == "uniquemember": // uniqueMemberMatch: an assertion without UID ignores the value's
		if !hasUID(want) {
			have = stripUID(have)
		}
		return normDN(have) == normDN(want)
	case dnValued(lname):
		return normDN(have) == normDN(want)
	}
	return strings.EqualFold(strings.TrimSpace(have), strings.TrimSpace(want))
}

func substringMatch(v string, parts []*ber.Packet) bool {
	pos := 0
	for _, p := range parts {
		sub := strings.ToLower(p.Data.String())
		switch p.Tag {
		case ldap.FilterSubstringsInitial:
			if !strings.HasPrefix(v, sub) {
				return false
			}
			pos = len(sub)
		case ldap.FilterSubstringsAny:
			j := strings.Index(v[pos:], sub)
			if j < 0 {
				return false
			}
			pos += j + len(sub)
		case ldap.FilterSubstringsFinal:
			if len(v)-pos < len(sub) || !strings.HasSuffix(v, sub) {
				return false
			}
			pos = len(v)
		}
	}
	return true
}

// hasUID reports whether a uniqueMember value ends in an optional UID
// ("…#'0101'B").
func hasUID(v string) bool { return stripUID(v) != v }

func stripUID(v string) string {
	if len(v) < 4 || !strings.HasSuffix(v, "'B") {
		return v
	}
	i := len(v) - 3
	for i >= 0 && (v[i] == '0' || v[i] == '1') {
		i--
	}
	if i < 1 || v[i] != '\'' || v[i-1] != '#' || (i >= 2 && v[i-2] == '\\') {
		return v
	}
	return v[:i-1]
}
