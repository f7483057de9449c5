package directory_test

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/directory/memldap"
	"github.com/idsync/idsync/internal/model"
)

// bigADEntries is an AD-shaped directory of n users (unique objectGUIDs)
// and one group holding all of them.
func bigADEntries(n int) []memldap.Entry {
	es := []memldap.Entry{
		{DN: adBase, Attrs: map[string][]string{"objectClass": {"domain"}}},
		{DN: "OU=Staff," + adBase, Attrs: map[string][]string{"objectClass": {"organizationalUnit"}}},
	}
	members := make([]string, 0, n)
	for i := 0; i < n; i++ {
		g := make([]byte, 16)
		binary.BigEndian.PutUint64(g[8:], uint64(i)+1)
		dn := fmt.Sprintf("CN=User %d,OU=Staff,%s", i, adBase)
		es = append(es, memldap.Entry{DN: dn, Attrs: map[string][]string{
			"objectClass": {"top", "person", "organizationalPerson", "user"}, "objectCategory": {"person"},
			"objectGUID": {string(g)}, "sAMAccountName": {fmt.Sprintf("u%d", i)}, "userAccountControl": {"512"},
		}})
		members = append(members, dn)
	}
	return append(es, memldap.Entry{DN: "CN=Everyone,OU=Staff," + adBase, Attrs: map[string][]string{"objectClass": {"group"}, "cn": {"Everyone"}, "member": members}})
}

// TestADLimits reads through AD's limits (memldap.ADLimits: pages of at
// most 1,000 entries, at most 1,500 values of an attribute per answer): a
// source asking for pages of 5,000 still gets every user, and a group of
// 5,000 members is read whole through ranged retrieval. A server whose
// ranged answer never ends is a clear error, not an endless read.
func TestADLimits(t *testing.T) {
	const n = 5000
	es := bigADEntries(n)
	srv := startMem(t, es, memldap.ADLimits(memldap.Options{}))
	c := directory.New(nil)
	for _, page := range []int{1000, 5000} {
		src := adSource(srv.URL())
		src.PageSize = page
		snap, err := c.Read(ctxT(t), &src)
		if err != nil {
			t.Fatalf("page size %d: %v", page, err)
		}
		if len(snap.Users) != n {
			t.Errorf("page size %d: %d users, want %d", page, len(snap.Users), n)
		}
		m, ok := model.NewIndex(snap).Members("CN=Everyone,OU=Staff,"+adBase, false)
		if !ok || len(m) != n {
			t.Errorf("page size %d: Everyone has %d members, want %d", page, len(m), n)
		}
	}
	broken := startMem(t, es, memldap.Options{MaxPageSize: 1000, RangeSize: 1500, NeverEndingRange: true})
	src := adSource(broken.URL())
	_, err := c.Read(ctxT(t), &src)
	if directory.ErrorKind(err) != directory.KindProtocol || !strings.Contains(model.ErrorMessage(err), "does not end") {
		t.Errorf("never-ending range: %v", err)
	}
}
