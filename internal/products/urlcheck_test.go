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
