package directory

import (
	"bufio"
	"bytes"
	"errors"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// entryPacket encodes a SearchResultEntry the way a server does, for seeds.
func entryPacket(dn string, attrs map[string][]string) []byte {
	p := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultEntry, nil, "")
	p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, ""))
	list := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	for name, vals := range attrs {
		pa := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		pa.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, name, ""))
		set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
		for _, v := range vals {
			set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, v, ""))
		}
		pa.AppendChild(set)
		list.AppendChild(pa)
	}
	p.AppendChild(list)
	return p.Bytes()
}

// message wraps a protocol op into an LDAPMessage with id, as read from
// the wire.
func message(id int64, op []byte, controls ...ldap.Control) []byte {
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	opp, err := ber.DecodePacketErr(op)
	if err != nil {
		panic(err)
	}
	p.AppendChild(opp)
	if len(controls) > 0 {
		cs := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "")
		for _, c := range controls {
			cs.AppendChild(c.Encode())
		}
		p.AppendChild(cs)
	}
	return p.Bytes()
}

// FuzzParseEntry checks the hand-written decoder against go-ldap's generic
// BER decoder: it never panics, and whenever the generic decoder reads a
// well-formed SearchResultEntry, both agree on the DN and every value.
func FuzzParseEntry(f *testing.F) {
	f.Add(entryPacket("uid=jdoe,ou=people,dc=example,dc=org", map[string][]string{"uid": {"jdoe"}, "cn": {"Doe, John"}}))
	f.Add(entryPacket("CN=Müller\\, Jörg,OU=Users,DC=corp,DC=example", map[string][]string{"member;range=0-1499": {"a", "b"}, "objectGUID": {"\x00\x01\xff"}}))
	f.Add(entryPacket("", nil))
	f.Add([]byte{0x64, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x64, 0x02, 0x04, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		op := data
		// parseEntry gets the content of the protocolOp.
		_, content, _, err := tlv(data)
		if err == nil {
			op = content
		}
		var e rawEntry
		perr := parseEntry(op, &e)
		for _, a := range e.attrs {
			_ = e.first(string(a.name))
		}
		pkt, derr := ber.DecodePacketErr(data)
		if derr != nil || pkt.Tag != ldap.ApplicationSearchResultEntry || len(pkt.Children) != 2 || len(pkt.Bytes()) != len(data) {
			return
		}
		dn, ok := pkt.Children[0].Value.(string)
		if !ok || pkt.Children[0].Tag != ber.TagOctetString {
			return
		}
		// Compare only what is a well-formed entry by its tags too: the
		// hand-written decoder reads by position and does not check tags,
		// where go-ldap gives a primitive element no children.
		universal := func(p *ber.Packet, typ ber.Type, tag ber.Tag) bool {
			return p.ClassType == ber.ClassUniversal && p.TagType == typ && p.Tag == tag
		}
		if !universal(pkt.Children[0], ber.TypePrimitive, ber.TagOctetString) ||
			!universal(pkt.Children[1], ber.TypeConstructed, ber.TagSequence) {
			return
		}
		var want []rawAttr
		for _, pa := range pkt.Children[1].Children {
			if len(pa.Children) != 2 || !universal(pa, ber.TypeConstructed, ber.TagSequence) ||
				!universal(pa.Children[0], ber.TypePrimitive, ber.TagOctetString) ||
				!universal(pa.Children[1], ber.TypeConstructed, ber.TagSet) {
				return
			}
			name, ok := pa.Children[0].Value.(string)
			if !ok {
				return
			}
			ra := rawAttr{name: []byte(name)}
			for _, v := range pa.Children[1].Children {
				if !universal(v, ber.TypePrimitive, ber.TagOctetString) {
					return
				}
				ra.vals = append(ra.vals, v.Data.Bytes())
			}
			want = append(want, ra)
		}
		if perr != nil {
			// go-ldap is more lenient in places (long-form lengths beyond
			// 4 bytes, indefinite lengths); refusing is safe.
			return
		}
		if string(e.dn) != dn {
			t.Fatalf("dn %q, go-ldap %q", e.dn, dn)
		}
		if len(e.attrs) != len(want) {
			t.Fatalf("%d attributes, go-ldap %d", len(e.attrs), len(want))
		}
		for i := range want {
			if !bytes.Equal(e.attrs[i].name, want[i].name) || len(e.attrs[i].vals) != len(want[i].vals) {
				t.Fatalf("attribute %d: %q (%d values), go-ldap %q (%d)", i, e.attrs[i].name, len(e.attrs[i].vals), want[i].name, len(want[i].vals))
			}
			for j := range want[i].vals {
				if !bytes.Equal(e.attrs[i].vals[j], want[i].vals[j]) {
					t.Fatalf("attribute %q value %d: %q, go-ldap %q", want[i].name, j, e.attrs[i].vals[j], want[i].vals[j])
				}
			}
		}
	})
}

// FuzzReadMsg feeds arbitrary bytes as a server's answer: reading ends
// with an answer or an error, never a panic, and a message larger than
// maxMessage is refused before it is read.
func FuzzReadMsg(f *testing.F) {
	entry := entryPacket("uid=a,dc=example,dc=org", map[string][]string{"uid": {"a"}})
	f.Add(message(1, entry))
	paging := ldap.NewControlPaging(1000)
	paging.SetCookie([]byte("cookie"))
	done := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultDone, nil, "")
	done.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, 0, ""))
	done.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	done.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	f.Add(message(1, done.Bytes(), paging))
	f.Add(append(message(0, done.Bytes()), message(1, entry)...)) // notice of disconnection first
	f.Add(append(message(7, entry), message(1, entry)...))        // a stale answer is skipped
	f.Add([]byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff})
	f.Add([]byte{0x30, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		w := &wconn{r: bufio.NewReader(bytes.NewReader(data)), id: 1}
		for range 16 {
			tag, op, controls, err := w.readMsg()
			if err != nil {
				if len(data) == 0 && !errors.Is(err, errConnLost) {
					t.Fatalf("empty answer: %v, want the connection-lost error", err)
				}
				return
			}
			switch tag {
			case 0x64:
				var e rawEntry
				_ = parseEntry(op, &e)
			case 0x65:
				_ = result(op)
				_, _ = pagingCookie(controls)
			}
		}
	})
}
