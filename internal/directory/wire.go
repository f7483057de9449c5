package directory

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// wconn is the LDAP connection the client reads with. go-ldap encodes the
// requests and compiles filters; the answers are decoded here, in place,
// from one reused buffer: go-ldap's generic decoder allocates a packet tree
// per entry, which made reading 100,000 users three times slower than
// ldapsearch. Values handed to callbacks are only valid during the call.
type wconn struct {
	nc      net.Conn
	r       *bufio.Reader
	id      int64
	timeout time.Duration
	buf     []byte
}

// errConnLost marks a connection that ended in the middle of an answer.
var errConnLost = errors.New("connection closed by the server")

const maxMessage = 256 << 20

func newWconn(nc net.Conn, timeout time.Duration) *wconn {
	return &wconn{nc: nc, r: bufio.NewReaderSize(nc, 256<<10), timeout: timeout}
}

func (w *wconn) close() error {
	if w.nc == nil {
		return nil
	}
	// Best effort unbind; the server may already be gone.
	_ = w.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_ = w.send(ber.Encode(ber.ClassApplication, ber.TypePrimitive, ldap.ApplicationUnbindRequest, nil, ""), nil)
	return w.nc.Close()
}

func (w *wconn) send(op *ber.Packet, controls []ldap.Control) error {
	w.id++
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, w.id, ""))
	p.AppendChild(op)
	if len(controls) > 0 {
		cs := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "")
		for _, c := range controls {
			cs.AppendChild(c.Encode())
		}
		p.AppendChild(cs)
	}
	if err := w.nc.SetDeadline(time.Now().Add(w.timeout)); err != nil {
		return err
	}
	_, err := w.nc.Write(p.Bytes())
	return err
}

// readMsg reads the next LDAPMessage for the current request and returns
// its protocolOp tag, content and the raw controls element (may be nil).
func (w *wconn) readMsg() (tag byte, op, controls []byte, err error) {
	for {
		hdr, err := w.r.ReadByte()
		if err != nil {
			return 0, nil, nil, netErr(err)
		}
		if hdr != 0x30 {
			return 0, nil, nil, fmt.Errorf("ldap: unexpected tag 0x%02x in the answer", hdr)
		}
		n, err := readLen(w.r)
		if err != nil {
			return 0, nil, nil, netErr(err)
		}
		if n > maxMessage {
			return 0, nil, nil, fmt.Errorf("ldap: message of %d bytes is too large", n)
		}
		var b []byte
		switch {
		case cap(w.buf) >= n:
			b = w.buf[:n]
			if _, err := io.ReadFull(w.r, b); err != nil {
				return 0, nil, nil, netErr(err)
			}
		case n <= 1<<20:
			w.buf = make([]byte, n, n+n/4)
			b = w.buf
			if _, err := io.ReadFull(w.r, b); err != nil {
				return 0, nil, nil, netErr(err)
			}
		default:
			// A large message grows with what actually arrives, so a
			// server announcing 256 MiB and sending nothing costs nothing.
			var bb bytes.Buffer
			bb.Grow(1 << 20)
			if _, err := io.CopyN(&bb, w.r, int64(n)); err != nil {
				return 0, nil, nil, netErr(err)
			}
			w.buf = bb.Bytes()
			b = w.buf
		}
		_, idb, rest, err := tlv(b)
		if err != nil {
			return 0, nil, nil, err
		}
		tag, op, rest, err = tlv(rest)
		if err != nil {
			return 0, nil, nil, err
		}
		if len(rest) > 0 {
			ct, c, _, err := tlv(rest)
			if err == nil && ct == 0xa0 {
				controls = c
			}
		}
		if id := parseInt(idb); id != w.id {
			// Unsolicited notification (id 0) or a stale answer: a notice
			// of disconnection ends the read, anything else is skipped.
			if id == 0 {
				return 0, nil, nil, errConnLost
			}
			continue
		}
		return tag, op, controls, nil
	}
}

func netErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errConnLost
	}
	return err
}

func readLen(r *bufio.Reader) (int, error) {
	b, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	if b < 0x80 {
		return int(b), nil
	}
	k := int(b & 0x7f)
	if k == 0 || k > 4 {
		return 0, fmt.Errorf("ldap: unsupported length encoding 0x%02x", b)
	}
	n := 0
	for i := 0; i < k; i++ {
		c, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		n = n<<8 | int(c)
	}
	return n, nil
}

var errMalformed = errors.New("ldap: malformed answer")

// tlv splits one BER element off b (single-byte tags, as LDAP uses).
func tlv(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, errMalformed
	}
	tag = b[0]
	n := int(b[1])
	i := 2
	if n >= 0x80 {
		k := n & 0x7f
		if k == 0 || k > 4 || len(b) < 2+k {
			return 0, nil, nil, errMalformed
		}
		n = 0
		for j := 0; j < k; j++ {
			n = n<<8 | int(b[2+j])
		}
		i += k
	}
	if n < 0 || len(b)-i < n {
		return 0, nil, nil, errMalformed
	}
	return tag, b[i : i+n], b[i+n:], nil
}

func parseInt(b []byte) int64 {
	var n int64
	for i, c := range b {
		if i == 0 && c&0x80 != 0 {
			n = -1
		}
		n = n<<8 | int64(c)
	}
	return n
}

// result parses an LDAPResult and returns nil or an *ldap.Error.
func result(op []byte) error {
	_, code, rest, err := tlv(op)
	if err != nil {
		return err
	}
	_, _, rest, err = tlv(rest) // matchedDN
	if err != nil {
		return err
	}
	_, diag, _, err := tlv(rest)
	if err != nil {
		return err
	}
	rc := uint16(parseInt(code))
	if rc == ldap.LDAPResultSuccess {
		return nil
	}
	return ldap.NewError(rc, errors.New(string(diag)))
}

// bind does a simple bind.
func (w *wconn) bind(dn, password string) error {
	req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindRequest, nil, "")
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, ""))
	req.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, ""))
	req.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, password, ""))
	if err := w.send(req, nil); err != nil {
		return err
	}
	tag, op, _, err := w.readMsg()
	if err != nil {
		return err
	}
	if tag != 0x61 {
		return fmt.Errorf("ldap: unexpected answer 0x%02x to bind", tag)
	}
	return result(op)
}

// startTLS upgrades the connection; TLS errors come back unwrapped so that
// certificate problems can be classified.
func (w *wconn) startTLS(ctx context.Context, cfg *tls.Config) error {
	req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationExtendedRequest, nil, "")
	req.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "1.3.6.1.4.1.1466.20037", ""))
	if err := w.send(req, nil); err != nil {
		return err
	}
	tag, op, _, err := w.readMsg()
	if err != nil {
		return err
	}
	if tag != 0x78 {
		return fmt.Errorf("ldap: unexpected answer 0x%02x to StartTLS", tag)
	}
	if err := result(op); err != nil {
		return err
	}
	tc := tls.Client(w.nc, cfg)
	hctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return err
	}
	w.nc = tc
	w.r = bufio.NewReaderSize(tc, 256<<10)
	return nil
}

// rawEntry is one search result entry, pointing into the read buffer.
type rawEntry struct {
	dn    []byte
	attrs []rawAttr
}

type rawAttr struct {
	name []byte
	vals [][]byte
}

// first returns the first value of attribute name (case-insensitive), or "".
func (e *rawEntry) first(name string) string {
	for i := range e.attrs {
		if len(e.attrs[i].vals) > 0 && bytes.EqualFold(e.attrs[i].name, []byte(name)) {
			return string(e.attrs[i].vals[0])
		}
	}
	return ""
}

// parseEntry decodes a SearchResultEntry into e, reusing its slices.
func parseEntry(op []byte, e *rawEntry) error {
	_, dn, rest, err := tlv(op)
	if err != nil {
		return err
	}
	e.dn = dn
	_, list, _, err := tlv(rest)
	if err != nil {
		return err
	}
	n := 0
	for len(list) > 0 {
		var pa []byte
		if _, pa, list, err = tlv(list); err != nil {
			return err
		}
		_, name, vs, err := tlv(pa)
		if err != nil {
			return err
		}
		_, set, _, err := tlv(vs)
		if err != nil {
			return err
		}
		if n == len(e.attrs) {
			e.attrs = append(e.attrs, rawAttr{})
		}
		a := &e.attrs[n]
		n++
		a.name = name
		a.vals = a.vals[:0]
		for len(set) > 0 {
			var v []byte
			if _, v, set, err = tlv(set); err != nil {
				return err
			}
			a.vals = append(a.vals, v)
		}
	}
	e.attrs = e.attrs[:n]
	return nil
}

// pagingCookie finds the paging control among raw controls.
func pagingCookie(controls []byte) ([]byte, bool) {
	for len(controls) > 0 {
		var c []byte
		var err error
		if _, c, controls, err = tlv(controls); err != nil {
			return nil, false
		}
		_, oid, rest, err := tlv(c)
		if err != nil || string(oid) != ldap.ControlTypePaging {
			continue
		}
		for len(rest) > 0 {
			var t byte
			var v []byte
			if t, v, rest, err = tlv(rest); err != nil {
				return nil, false
			}
			if t != 0x04 { // criticality
				continue
			}
			_, seq, _, err := tlv(v)
			if err != nil {
				return nil, false
			}
			_, _, seq, err = tlv(seq) // size
			if err != nil {
				return nil, false
			}
			_, cookie, _, err := tlv(seq)
			if err != nil {
				return nil, false
			}
			return cookie, true
		}
		return nil, true
	}
	return nil, false
}

type searchReq struct {
	base      string
	scope     int
	filter    *ber.Packet
	attrs     []string
	sizeLimit int
	pageSize  uint32 // 0: not paged
}

func (q *searchReq) packet() *ber.Packet {
	req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchRequest, nil, "")
	req.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, q.base, ""))
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(q.scope), ""))
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(ldap.NeverDerefAliases), ""))
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, uint64(q.sizeLimit), ""))
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, uint64(0), ""))
	req.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, false, ""))
	req.AppendChild(q.filter)
	as := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	for _, a := range q.attrs {
		as.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a, ""))
	}
	req.AppendChild(as)
	return req
}

// search runs q, page by page when q.pageSize > 0, calling fn for each
// entry. A size-limit result is returned as its *ldap.Error after the
// entries that came.
func (w *wconn) search(q *searchReq, fn func(*rawEntry) error) error {
	req := q.packet()
	var e rawEntry
	var cookie []byte
	for {
		var controls []ldap.Control
		if q.pageSize > 0 {
			pc := ldap.NewControlPaging(q.pageSize)
			pc.SetCookie(cookie)
			controls = []ldap.Control{pc}
		}
		if err := w.send(req, controls); err != nil {
			return err
		}
		var next []byte
		for done := false; !done; {
			tag, op, ctrls, err := w.readMsg()
			if err != nil {
				return err
			}
			switch tag {
			case 0x64: // SearchResultEntry
				if err := parseEntry(op, &e); err != nil {
					return err
				}
				if err := fn(&e); err != nil {
					return err
				}
			case 0x65: // SearchResultDone
				if err := result(op); err != nil {
					return err
				}
				if q.pageSize > 0 {
					c, _ := pagingCookie(ctrls)
					next = append([]byte(nil), c...)
				}
				done = true
			case 0x73, 0x79: // reference, intermediate: not followed
			default:
				return fmt.Errorf("ldap: unexpected answer 0x%02x to search", tag)
			}
		}
		if len(next) == 0 {
			return nil
		}
		cookie = next
	}
}
