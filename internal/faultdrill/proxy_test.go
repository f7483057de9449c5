package faultdrill

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/directory/slapdtest"
)

// proxyMode is how the LDAP proxy misbehaves. after counts search result
// entries under ou=people forwarded on one connection.
type proxyMode struct {
	kind  string // "pass", "cut" (close the connection), "stall" (stop answering), "drop" (omit entries)
	after int    // cut/stall: after this many people entries
	// drop: omit entries whose DN ends with this (case-insensitive).
	dropSuffix string
}

// ldapProxy is a loopback TCP proxy in front of slapd that reads the
// server's LDAP messages and can cut, stall or thin out search results.
type ldapProxy struct {
	URL    string
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  proxyMode
	conns map[net.Conn]struct{}
	done  chan struct{}
}

func startProxy(t *testing.T, targetURL string) *ldapProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &ldapProxy{URL: "ldap://" + ln.Addr().String(), ln: ln, target: strings.TrimPrefix(targetURL, "ldap://"),
		mode: proxyMode{kind: "pass"}, conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// set changes the mode for connections opened from now on.
func (p *ldapProxy) set(m proxyMode) {
	p.mu.Lock()
	p.mode = m
	p.mu.Unlock()
}

func (p *ldapProxy) close() {
	close(p.done)
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
}

func (p *ldapProxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *ldapProxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(client)
	}
}

func (p *ldapProxy) handle(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	p.track(client, true)
	p.track(server, true)
	defer func() {
		_ = client.Close()
		_ = server.Close()
		p.track(client, false)
		p.track(server, false)
	}()
	p.mu.Lock()
	mode := p.mode
	p.mu.Unlock()
	go func() {
		_, _ = io.Copy(server, client)
		_ = server.Close()
		_ = client.Close()
	}()
	people := 0
	stalled := false
	for {
		pkt, err := ber.ReadPacket(server)
		if err != nil {
			return
		}
		if len(pkt.Children) >= 2 && pkt.Children[1].ClassType == ber.ClassApplication && pkt.Children[1].Tag == ldap.ApplicationSearchResultEntry {
			dn := ""
			if len(pkt.Children[1].Children) > 0 {
				dn = strings.ToLower(pkt.Children[1].Children[0].Data.String())
			}
			if strings.HasSuffix(dn, strings.ToLower(","+slapdtest.PeopleDN)) {
				switch mode.kind {
				case "cut":
					if people >= mode.after {
						return // closes both sides halfway through the answer
					}
				case "stall":
					if people >= mode.after {
						stalled = true
					}
				case "drop":
					if strings.HasSuffix(dn, strings.ToLower(mode.dropSuffix)) {
						continue
					}
				}
				people++
			}
		}
		if stalled {
			continue // read on so slapd is not blocked, answer nothing more
		}
		if _, err := client.Write(pkt.Bytes()); err != nil {
			return
		}
	}
}
