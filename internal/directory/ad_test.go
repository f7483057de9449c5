package directory_test

import (
	"os"
	"testing"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/directory/adtest"
)

// TestMain stops the shared Samba AD (adtest) after the package's tests.
func TestMain(m *testing.M) { os.Exit(adtest.Main(m)) }

// TestADBindNames binds to the real AD with each accepted form of bind
// name and checks that a wrong password still fails as a bind error.
func TestADBindNames(t *testing.T) {
	s := adtest.Start(t)
	c := directory.New(nil)
	for _, name := range []string{adtest.Domain + `\Administrator`, "Administrator@" + adtest.Realm, "CN=Administrator," + adtest.UsersDN} {
		src := s.Source()
		src.BindDN, src.BindPassword = name, adtest.AdminPassword
		if err := directory.ValidateBindName(name); err != nil {
			t.Errorf("%q: refused: %v", name, err)
		}
		r, err := c.Test(ctxT(t), &src)
		if err != nil {
			t.Errorf("bind as %q: %v", name, err)
			continue
		}
		if r.Users != adtest.Users {
			t.Errorf("bind as %q: %d users, want %d", name, r.Users, adtest.Users)
		}
		src.BindPassword = "wrong"
		if _, err := c.Test(ctxT(t), &src); directory.ErrorKind(err) != directory.KindBind {
			t.Errorf("bind as %q with a wrong password: %v, want a bind error", name, err)
		}
	}
}
