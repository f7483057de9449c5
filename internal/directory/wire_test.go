package directory

import (
	"bytes"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestFormatGUID(t *testing.T) {
	// The example from Microsoft's documentation of objectGUID.
	b := []byte{0xe0, 0x04, 0x25, 0x3f, 0x89, 0x4f, 0xd3, 0x11, 0x9a, 0x0c, 0x03, 0x05, 0xe8, 0x2c, 0x33, 0x01}
	got, want := formatGUID(b), "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
	if got != want {
		t.Fatalf("formatGUID = %s, want %s", got, want)
	}
	back, err := parseGUID(want)
	if err != nil || !bytes.Equal(back, b) {
		t.Errorf("parseGUID(%s) = %x, %v; want %x", want, back, err, b)
	}
	for _, bad := range []string{"", "xyz", "3f2504e0-4f89-11d3-9a0c-0305e82c33", "zz2504e0-4f89-11d3-9a0c-0305e82c3301"} {
		if _, err := parseGUID(bad); err == nil {
			t.Errorf("parseGUID(%q) succeeded", bad)
		}
	}
	if got, want := escapeFilterBytes([]byte{0x00, 0x2a, 0xff}), `\00\2a\ff`; got != want {
		t.Errorf("escapeFilterBytes = %s, want %s", got, want)
	}
}

func TestRangeNext(t *testing.T) {
	for in, want := range map[string]int{"0-1499": 1500, "1500-*": -1, "garbage": -1, "0-x": -1} {
		if got := rangeNext(in); got != want {
			t.Errorf("rangeNext(%q) = %d, want %d", in, got, want)
		}
	}
}

// entryBytes encodes a SearchResultEntry's content (dn, attributes) in BER.
func entryBytes(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := func(tag byte, content []byte) []byte {
		out := []byte{tag}
		n := len(content)
		switch {
		case n < 0x80:
			out = append(out, byte(n))
		case n < 0x100:
			out = append(out, 0x81, byte(n))
		default:
			out = append(out, 0x82, byte(n>>8), byte(n))
		}
		return append(out, content...)
	}
	attr := func(name string, vals ...string) []byte {
		var set []byte
		for _, v := range vals {
			set = append(set, enc(0x04, []byte(v))...)
		}
		return enc(0x30, append(enc(0x04, []byte(name)), enc(0x31, set)...))
	}
	b.Write(enc(0x04, []byte("uid=a,dc=x")))
	b.Write(enc(0x30, append(attr("uid", "a"), attr("member", "m1", "m2")...)))
	return b.Bytes()
}

func TestParseEntry(t *testing.T) {
	raw := entryBytes(t)
	var e rawEntry
	if err := parseEntry(raw, &e); err != nil {
		t.Fatal(err)
	}
	if string(e.dn) != "uid=a,dc=x" || len(e.attrs) != 2 || e.first("UID") != "a" || len(e.attrs[1].vals) != 2 {
		t.Fatalf("parsed %q with %d attributes", e.dn, len(e.attrs))
	}
	// Every truncation must fail cleanly, never panic or succeed with
	// garbage that reads as a complete entry.
	for n := 0; n < len(raw); n++ {
		var e rawEntry
		err := parseEntry(raw[:n], &e)
		if err == nil && len(e.attrs) == 2 && len(e.attrs[1].vals) == 2 {
			t.Errorf("truncated to %d bytes: parsed as complete", n)
		}
	}
	// Corrupted lengths must not panic.
	for i := range raw {
		c := append([]byte(nil), raw...)
		c[i] = 0xff
		var e rawEntry
		_ = parseEntry(c, &e)
	}
}

func TestPagingCookie(t *testing.T) {
	pc := ldap.NewControlPaging(100)
	pc.SetCookie([]byte("next-page"))
	cs := pc.Encode().Bytes()
	// controls element content = the encoded control(s)
	cookie, ok := pagingCookie(cs)
	if !ok || string(cookie) != "next-page" {
		t.Errorf("pagingCookie = %q, %v", cookie, ok)
	}
	if _, ok := pagingCookie([]byte{0x30, 0x03, 0x04, 0x01, 'x'}); ok {
		t.Error("found a paging control in an unrelated control")
	}
}

func TestNormDN(t *testing.T) {
	for in, want := range map[string]string{
		"uid=a,dc=x":           "uid=a,dc=x",
		"UID=A, DC=X":          "uid=a,dc=x",
		"cn=Sales (EMEA),dc=x": "cn=sales (emea),dc=x",
	} {
		if got := normDN(in); got != want {
			t.Errorf("normDN(%q) = %q, want %q", in, got, want)
		}
	}
}
