package products

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/model"
)

func TestCheckURL(t *testing.T) {
	strict := URLPolicy{}
	loop := URLPolicy{AllowLoopback: true}
	tests := []struct {
		name   string
		policy URLPolicy
		url    string
		want   string // substring of the field message; "" = accepted
	}{
		{"https ok", strict, "https://scim.example.com/scim/v2", ""},
		{"http ip ok", strict, "http://10.1.2.3:8080/hook", ""},
		{"empty", strict, "", "Enter the product"},
		{"ftp refused", strict, "ftp://example.com/x", "Only http"},
		{"javascript refused", strict, "javascript:alert(1)", "Only http"},
		{"no host", strict, "http:///path", "no host"},
		{"userinfo refused", strict, "https://user:pw@example.com/", "credentials"},
		{"metadata ipv4", strict, "http://169.254.169.254/latest/meta-data", "metadata"},
		{"metadata name", strict, "http://metadata.google.internal/computeMetadata/v1", "metadata"},
		{"metadata name trailing dot", strict, "http://Metadata.Google.Internal./", "metadata"},
		{"metadata ipv6", strict, "http://[fd00:ec2::254]/", "metadata"},
		{"link-local v4", strict, "http://169.254.10.1/", "link-local"},
		{"link-local v6", strict, "http://[fe80::1]/", "link-local"},
		{"unspecified v4", strict, "http://0.0.0.0:80/", "unspecified"},
		{"unspecified v6", strict, "http://[::]/", "unspecified"},
		{"mapped metadata", strict, "http://[::ffff:169.254.169.254]/", "metadata"},
		{"loopback refused", strict, "http://127.0.0.1:9000/", "loopback"},
		{"loopback v6 refused", strict, "http://[::1]:9000/", "loopback"},
		{"localhost refused", strict, "http://localhost:9000/", "loopback"},
		{"loopback allowed", loop, "http://127.0.0.1:9000/scim", ""},
		{"localhost allowed", loop, "http://localhost:9000/scim", ""},
		{"metadata still refused with loopback", loop, "http://169.254.169.254/", "metadata"},
		{"query refused", strict, "https://example.com/hook?x=1", "query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.CheckURL(context.Background(), tt.url)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckURL(%q) = %v, want nil", tt.url, err)
				}
				return
			}
			if got := model.ErrorCode(err); got != model.EINVALID {
				t.Fatalf("CheckURL(%q) code = %q (%v), want %q", tt.url, got, err, model.EINVALID)
			}
			if msg := model.ErrorFields(err)["base_url"]; !strings.Contains(strings.ToLower(msg), strings.ToLower(tt.want)) {
				t.Fatalf("CheckURL(%q) base_url message = %q, want it to contain %q", tt.url, msg, tt.want)
			}
		})
	}
}

func TestControlRefusesAtDialTime(t *testing.T) {
	tests := []struct {
		addr   string
		policy URLPolicy
		ok     bool
	}{
		{"93.184.216.34:443", URLPolicy{}, true},
		{"169.254.169.254:80", URLPolicy{AllowLoopback: true}, false},
		{"[fe80::1]:80", URLPolicy{}, false},
		{"127.0.0.1:80", URLPolicy{}, false},
		{"127.0.0.1:80", URLPolicy{AllowLoopback: true}, true},
		{"0.0.0.0:80", URLPolicy{AllowLoopback: true}, false},
	}
	for _, tt := range tests {
		err := tt.policy.Control("tcp4", tt.addr, nil)
		if (err == nil) != tt.ok {
			t.Errorf("Control(%s, loopback=%v) = %v, want ok=%v", tt.addr, tt.policy.AllowLoopback, err, tt.ok)
		}
	}
}

func TestClientRefusesLoopbackDial(t *testing.T) {
	// A real dial through the client: a name that resolves to loopback
	// ("localhost") must be refused after resolution, like a DNS rebind.
	hc := NewHTTPClient(URLPolicy{}, 0)
	_, err := hc.Get("http://localhost:1/")
	if err == nil || !strings.Contains(err.Error(), "refused: loopback") {
		t.Fatalf("GET localhost with strict policy: err = %v, want a refusal by the dialer", err)
	}
}

func TestCheckIPUnmaps(t *testing.T) {
	if why := (URLPolicy{}).CheckIP(netip.MustParseAddr("::ffff:127.0.0.1")); why == "" {
		t.Fatal("IPv4-mapped loopback accepted")
	}
}

// TestForbiddenAddressForms is the table of issue 16: zoned addresses,
// IPv6 forms embedding a forbidden IPv4 address, and 0.0.0.0/8, refused
// at save time (CheckURL) and again at connect time (Control). Nothing
// here connects anywhere.
func TestForbiddenAddressForms(t *testing.T) {
	tests := []struct {
		host string // as written in a URL
		dial string // as the dialer sees it ("" = not dialable)
		want string // substring of the refusal
	}{
		{"[fe80::1%25lo]", "[fe80::1%lo]:80", "zone"},
		{"[fe80::1%25eth0]", "[fe80::1%eth0]:80", "zone"},
		{"[::1%25lo]", "[::1%lo]:80", "zone"},
		{"0.0.0.1", "0.0.0.1:80", "0.0.0.0/8"},
		{"0.1.2.3", "0.1.2.3:80", "0.0.0.0/8"},
		{"[::7f00:1]", "[::7f00:1]:80", "IPv4-compatible"},
		{"[::127.0.0.1]", "[::127.0.0.1]:80", "IPv4-compatible"},
		{"[::a9fe:a9fe]", "[::a9fe:a9fe]:80", "metadata"},
		{"[64:ff9b::7f00:1]", "[64:ff9b::7f00:1]:80", "NAT64"},
		{"[64:ff9b::169.254.169.254]", "[64:ff9b::a9fe:a9fe]:80", "metadata"},
		{"[64:ff9b:1::7f00:1]", "[64:ff9b:1::7f00:1]:80", "local NAT64"},
		{"[::ffff:0:7f00:1]", "[::ffff:0:7f00:1]:80", "SIIT"},
		{"[::ffff:0:a9fe:a9fe]", "[::ffff:0:a9fe:a9fe]:80", "metadata"},
		{"[::ffff:7f00:1]", "[::ffff:7f00:1]:80", "loopback"},
		{"[::ffff:0.0.0.1]", "[::ffff:0.0.0.1]:80", "0.0.0.0/8"},
		{"[2002:7f00:1::]", "[2002:7f00:1::]:80", "6to4"},
		{"[2002:a9fe:a9fe::1]", "[2002:a9fe:a9fe::1]:80", "metadata"},
		{"[2001:0:7f00:1::]", "[2001:0:7f00:1::]:80", "Teredo"},
		{"[2001:0:c000:201::80ff:fffe]", "[2001:0:c000:201::80ff:fffe]:80", "Teredo"}, // client ^ = 127.0.0.1
		{"255.255.255.255", "255.255.255.255:80", "broadcast"},
		{"2130706433", "", "four decimal numbers"},
		{"0x7f.0.0.1", "", "four decimal numbers"},
		{"0177.0.0.1", "", "four decimal numbers"},
		{"127.1", "", "four decimal numbers"},
	}
	strict := URLPolicy{}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			err := strict.CheckURL(context.Background(), "http://"+tt.host+"/scim")
			if model.ErrorCode(err) != model.EINVALID {
				t.Fatalf("CheckURL(%s) = %v, want a refusal", tt.host, err)
			}
			if msg := model.ErrorFields(err)["base_url"]; !strings.Contains(msg, tt.want) {
				t.Errorf("CheckURL(%s) message %q, want it to mention %q", tt.host, msg, tt.want)
			}
			if tt.dial == "" {
				return
			}
			if err := strict.Control("tcp6", tt.dial, nil); err == nil || !strings.Contains(err.Error(), "refused") {
				t.Errorf("Control(%s) = %v, want a refusal at connect time", tt.dial, err)
			}
		})
	}
	// Ordinary public and private addresses, and allowed loopback, still pass.
	for _, ok := range []struct {
		p    URLPolicy
		addr string
	}{
		{strict, "10.1.2.3"}, {strict, "2001:db8::1"}, {strict, "fd12:3456::1"}, {strict, "64:ff9b::a01:203"},
		{strict, "::ffff:10.1.2.3"}, {strict, "2002:a01:203::1"},
		{URLPolicy{AllowLoopback: true}, "::1"}, {URLPolicy{AllowLoopback: true}, "127.0.0.1"},
	} {
		if why := ok.p.CheckIP(netip.MustParseAddr(ok.addr)); why != "" {
			t.Errorf("CheckIP(%s, loopback=%v) = %q, want allowed", ok.addr, ok.p.AllowLoopback, why)
		}
	}
}
