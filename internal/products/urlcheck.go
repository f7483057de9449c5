package products

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/idsync/idsync/internal/model"
)

// URLPolicy decides which product addresses idsync may talk to. Product URLs
// are typed by admins, so without a policy the server could be pointed at
// cloud metadata services or other internal endpoints (SSRF).
type URLPolicy struct {
	// AllowLoopback permits 127.0.0.0/8 and ::1 (--allow-loopback-products),
	// for products running on the same host and for tests.
	AllowLoopback bool
}

// Host names that always mean a metadata service.
var metadataHosts = map[string]bool{
	"metadata.google.internal": true,
	"metadata.goog":            true,
	"metadata":                 true,
}

var (
	metadataV6   = netip.MustParseAddr("fd00:ec2::254")
	alibabaMeta  = netip.MustParseAddr("100.100.100.200")
	thisNetwork  = netip.MustParsePrefix("0.0.0.0/8")
	linkLocalV4  = netip.MustParsePrefix("169.254.0.0/16")
	linkLocalV6  = netip.MustParsePrefix("fe80::/10")
	broadcast    = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	loopbackName = map[string]bool{"localhost": true, "localhost.localdomain": true}
)

// IPv6 forms that carry an IPv4 address in their low 32 bits: a request
// to one may reach that IPv4 address through a translator or a dual
// stack, so the embedded address must pass the IPv4 rules too.
var embedsV4Low = []struct {
	prefix netip.Prefix
	name   string
}{
	{netip.MustParsePrefix("::ffff:0:0/96"), "IPv4-mapped"},
	{netip.MustParsePrefix("::ffff:0:0:0/96"), "IPv4-translated (SIIT)"},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local NAT64"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible"},
}

var (
	sixToFour = netip.MustParsePrefix("2002::/16") // IPv4 in bits 16–47
	teredo    = netip.MustParsePrefix("2001::/32") // server in bits 32–63, client inverted in the low 32
)

// embeddedV4 returns the IPv4 addresses an IPv6 address carries, with the
// name of the form, or nothing for an ordinary IPv6 address.
func embeddedV4(ip netip.Addr) (string, []netip.Addr) {
	if !ip.Is6() || ip.IsLoopback() || ip.IsUnspecified() { // ::1 and :: are not IPv4-compatible forms
		return "", nil
	}
	b := ip.As16()
	low := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	for _, f := range embedsV4Low {
		if f.prefix.Contains(ip) {
			return f.name, []netip.Addr{low}
		}
	}
	switch {
	case sixToFour.Contains(ip):
		return "6to4", []netip.Addr{netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})}
	case teredo.Contains(ip):
		return "Teredo", []netip.Addr{netip.AddrFrom4([4]byte{b[4], b[5], b[6], b[7]}),
			netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})}
	}
	return "", nil
}

// CheckIP returns a reason when ip may not be contacted, "" when it may.
// An address with a zone (fe80::1%eth0) is always refused: the zone picks
// an interface, and prefix checks do not apply to zoned addresses. An
// IPv6 address that embeds an IPv4 one (mapped, compatible, SIIT, NAT64,
// 6to4, Teredo) is refused when the IPv4 address would be.
func (p URLPolicy) CheckIP(ip netip.Addr) string {
	if !ip.IsValid() {
		return "not a valid address"
	}
	if ip.Zone() != "" {
		return "addresses with a zone (%) are not allowed"
	}
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	if why := p.checkPlain(ip); why != "" {
		return why
	}
	if form, v4s := embeddedV4(ip); form != "" {
		for _, v4 := range v4s {
			if why := p.checkPlain(v4); why != "" {
				return fmt.Sprintf("%s is a %s address embedding %s: %s", ip, form, v4, why)
			}
		}
	}
	return ""
}

// checkPlain applies the rules to one address, without looking inside it.
func (p URLPolicy) checkPlain(ip netip.Addr) string {
	switch {
	case ip.IsUnspecified():
		return "the unspecified address is not allowed"
	case thisNetwork.Contains(ip):
		return "0.0.0.0/8 (\"this network\") is not allowed"
	case ip == broadcast:
		return "the broadcast address is not allowed"
	case ip == metadataV6 || ip == alibabaMeta || ip == netip.AddrFrom4([4]byte{169, 254, 169, 254}):
		return "cloud metadata addresses are not allowed"
	case linkLocalV4.Contains(ip) || linkLocalV6.Contains(ip) || ip.IsLinkLocalMulticast():
		return "link-local addresses are not allowed"
	case ip.IsMulticast() || ip.IsInterfaceLocalMulticast():
		return "multicast addresses are not allowed"
	case ip.IsLoopback() && !p.AllowLoopback:
		return "loopback addresses are not allowed (start idsync with --allow-loopback-products to permit them)"
	}
	return ""
}

// numericHost matches hosts that look like an IPv4 address in a form
// netip does not accept (2130706433, 0x7f.1, 0177.0.0.1): resolvers read
// them differently, so they are refused rather than guessed at.
var numericHost = regexp.MustCompile(`^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]*))*$`)

// CheckURL validates a product base URL at save time. It returns an
// EINVALID *model.Error for the "base_url" field when the URL is refused.
// Host names are resolved (briefly) so that a name pointing at a forbidden
// address is refused now; the dialer checks again on every connection.
func (p URLPolicy) CheckURL(ctx context.Context, raw string) error {
	bad := func(msg string) error { return model.Invalid(map[string]string{"base_url": msg}) }
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return bad("Enter the product's base URL.")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("Not a valid URL.")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return bad("Only http:// and https:// URLs are allowed.")
	}
	if u.User != nil {
		return bad("Put credentials in the secret field, not in the URL.")
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return bad("The URL has no host.")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return bad("The base URL may not have a query or fragment.")
	}
	if metadataHosts[host] {
		return bad("Cloud metadata addresses are not allowed.")
	}
	if loopbackName[host] && !p.AllowLoopback {
		return bad(upperFirst(p.CheckIP(netip.MustParseAddr("127.0.0.1"))) + ".")
	}
	if strings.Contains(host, "%") {
		return bad("Addresses with a zone (%) are not allowed.")
	}
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if why := p.CheckIP(ip); why != "" {
			return bad(upperFirst(why) + ".")
		}
		return nil
	}
	if numericHost.MatchString(host) {
		return bad("Write an IPv4 address as four decimal numbers (like 192.0.2.10).")
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
	if err != nil {
		// Not resolvable now (maybe not yet in DNS): the dial-time check
		// still guards every connection.
		return nil
	}
	for _, ip := range ips {
		if why := p.CheckIP(ip); why != "" {
			return bad(fmt.Sprintf("%s resolves to %s: %s.", host, ip, why))
		}
	}
	return nil
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Control is a net.Dialer Control function that refuses forbidden
// addresses at connect time, after DNS resolution, so a name that
// re-resolves to an internal address (DNS rebinding) is still refused.
func (p URLPolicy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("products: dial %s: unexpected address: %w", address, err)
	}
	if why := p.CheckIP(ap.Addr()); why != "" {
		return fmt.Errorf("products: dial %s refused: %s", address, why)
	}
	return nil
}

// NewHTTPClient returns a client whose every connection passes p and whose
// requests time out after timeout. Redirects are not followed: a product
// answering with a redirect gets the answer recorded as a failure.
func NewHTTPClient(p URLPolicy, timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: p.Control}
	tr := &http.Transport{
		DialContext:           d.DialContext,
		Proxy:                 nil, // a proxy would hide the real destination from Control
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
