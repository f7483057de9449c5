// Package slapdtest starts a private OpenLDAP slapd for tests and
// benchmarks: a generated directory in a temp dir, on a free 127.0.0.1
// port, stopped when the test ends.
package slapdtest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/testenv"
)

// Paths of the Debian slapd package.
const (
	SlapdPath  = "/usr/sbin/slapd"
	SlapaddBin = "/usr/sbin/slapadd"
	ModulePath = "/usr/lib/ldap"
	SchemaDir  = "/etc/ldap/schema"
)

// Options shape the generated directory.
type Options struct {
	// Users is the number of people (default 20).
	Users int
	// Teams is the number of leaf team groups users are spread over
	// (default 4). Departments (one per ten teams) contain the teams,
	// all-staff contains the departments: three levels of nesting.
	Teams int
	// ExtraLDIF is appended to the generated LDIF (entries under BaseDN).
	ExtraLDIF string
	// NoPeople leaves ou=people empty (a directory that returns zero users).
	NoPeople bool
	// LDIF, when set, replaces the generated people and groups: the
	// directory holds the base entry, ou=people, ou=groups and LDIF.
	LDIF string
	// NoMemberOf leaves the memberof overlay out.
	NoMemberOf bool
	// RFC2307bis loads nis.schema with posixGroup AUXILIARY (RFC 2307bis),
	// so a group can be groupOfNames and posixGroup at once.
	RFC2307bis bool
}

// Server is a running slapd.
type Server struct {
	URL      string
	BaseDN   string
	BindDN   string
	Password string
	Dir      string
	cmd      *exec.Cmd
	done     chan struct{}
}

// Fixed parts of the generated directory.
const (
	BaseDN   = "dc=example,dc=org"
	PeopleDN = "ou=people," + BaseDN
	GroupsDN = "ou=groups," + BaseDN
	Password = "secret-test-pw"
)

// Attrs returns the enterprise attribute values of generated user i, by
// directory attribute (l, ou, departmentNumber, businessCategory, title).
func Attrs(i int) map[string]string {
	locations := []string{"Berlin", "Hamburg", "Munich", "Paris", "London", "New York"}
	units := []string{"Sales", "Engineering", "Operations", "Finance"}
	titles := []string{"Engineer", "Manager", "Analyst", "Director", "Technician"}
	depts := []string{"R&D", "Support", "Marketing"}
	return map[string]string{
		"l":                locations[i%len(locations)],
		"ou":               units[i%len(units)],
		"departmentNumber": fmt.Sprintf("CC-%d", 100+i%5),
		"businessCategory": depts[i%len(depts)],
		"title":            titles[i%len(titles)],
	}
}

// UserDN returns the DN of generated user i (0-based).
func UserDN(i int) string { return fmt.Sprintf("uid=%s,%s", Username(i), PeopleDN) }

// Username returns the uid of generated user i.
func Username(i int) string { return fmt.Sprintf("user%06d", i) }

// TeamDN returns the DN of team group j.
func TeamDN(j int) string { return fmt.Sprintf("cn=team-%04d,%s", j, GroupsDN) }

// DeptDN returns the DN of department group d.
func DeptDN(d int) string { return fmt.Sprintf("cn=dept-%03d,%s", d, GroupsDN) }

// Disabled reports whether generated user i is disabled (every 10th, from 5).
func Disabled(i int) bool { return i%10 == 5 }

// HasMail reports whether generated user i has a mail attribute.
func HasMail(i int) bool { return i%7 != 3 }

// Team returns the team group of user i.
func Team(i, teams int) int { return i % teams }

// Start generates the directory, loads it with slapadd and starts slapd.
// It skips the test when slapd is not installed, and fails it when CI is
// set (see internal/testenv).
func Start(tb testing.TB, o Options) *Server {
	tb.Helper()
	if _, err := os.Stat(SlapdPath); err != nil {
		testenv.Missing(tb, "slapdtest: %s not installed (Debian package slapd)", SlapdPath)
	}
	if o.Users <= 0 {
		o.Users = 20
	}
	if o.Teams <= 0 {
		o.Teams = 4
	}
	dir := tb.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		tb.Fatalf("slapdtest: %v", err)
	}
	conf := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(conf, []byte(config(dir, data, o)), 0o600); err != nil {
		tb.Fatalf("slapdtest: %v", err)
	}
	ldif := filepath.Join(dir, "data.ldif")
	if err := writeLDIF(ldif, o); err != nil {
		tb.Fatalf("slapdtest: %v", err)
	}
	if out, err := exec.Command(SlapaddBin, "-q", "-f", conf, "-l", ldif).CombinedOutput(); err != nil {
		tb.Fatalf("slapdtest: slapadd: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		tb.Fatalf("slapdtest: %v", err)
	}
	url := fmt.Sprintf("ldap://127.0.0.1:%d", port)
	cmd := exec.Command(SlapdPath, "-f", conf, "-h", url+"/", "-d", "0")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("slapdtest: start slapd: %v", err)
	}
	s := &Server{URL: url, BaseDN: BaseDN, BindDN: "cn=admin," + BaseDN, Password: Password, Dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	tb.Cleanup(s.stop)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			break
		}
		select {
		case <-s.done:
			tb.Fatalf("slapdtest: slapd exited: %s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("slapdtest: slapd did not listen on %s: %s", url, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

func (s *Server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Source returns a model.Source for this server with OpenLDAP defaults,
// the disabled flag a permanent ppolicy lock (locked(pwdAccountLockedTime)).
func (s *Server) Source() model.Source {
	src := model.DefaultSource(model.SourceOpenLDAP)
	src.ID = 1
	src.Name = "slapdtest"
	src.URLs = []string{s.URL}
	src.BindDN = s.BindDN
	src.BindPassword = s.Password
	src.UserBaseDN = PeopleDN
	src.GroupBaseDN = GroupsDN
	src.Timeout = 20 * time.Second
	src.Attributes.Disabled = "locked(pwdAccountLockedTime)"
	src.Attributes.Enterprise = map[string]string{
		model.AttrLocation:      "l",
		model.AttrCorporateUnit: "ou",
		model.AttrCostCenter:    "departmentNumber",
		model.AttrDepartment:    "businessCategory",
		model.AttrTitle:         "title",
	}
	return src
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func config(dir, data string, o Options) string {
	nis := SchemaDir + "/nis.schema"
	if o.RFC2307bis {
		if b, err := os.ReadFile(nis); err == nil {
			bis := strings.Replace(string(b), "DESC 'Abstraction of a group of accounts'\n\tSUP top STRUCTURAL", "DESC 'Abstraction of a group of accounts'\n\tSUP top AUXILIARY", 1)
			nis = filepath.Join(dir, "rfc2307bis.schema")
			_ = os.WriteFile(nis, []byte(bis), 0o600)
		}
	}
	overlays := "overlay memberof\noverlay ppolicy\n"
	if o.NoMemberOf {
		overlays = "overlay ppolicy\n"
	}
	return fmt.Sprintf(`include %[1]s/core.schema
include %[1]s/cosine.schema
include %[7]s
include %[1]s/inetorgperson.schema
modulepath %[2]s
moduleload back_mdb
moduleload memberof
moduleload ppolicy
pidfile %[3]s/slapd.pid
argsfile %[3]s/slapd.args
sizelimit unlimited
database mdb
suffix "%[4]s"
rootdn "cn=admin,%[4]s"
rootpw %[5]s
directory %[6]s
maxsize 4294967296
index objectClass eq
index entryUUID eq
index uid eq
index member eq
index memberUid eq
index cn eq,sub
`, SchemaDir, ModulePath, dir, BaseDN, Password, data, nis) + overlays
}

func writeLDIF(path string, o Options) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintf(w, "dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n", BaseDN)
	fmt.Fprintf(w, "dn: %s\nobjectClass: organizationalUnit\nou: people\n\n", PeopleDN)
	fmt.Fprintf(w, "dn: %s\nobjectClass: organizationalUnit\nou: groups\n\n", GroupsDN)
	if o.LDIF != "" {
		w.WriteString(strings.TrimSpace(o.LDIF))
		w.WriteString("\n\n")
		if err := w.Flush(); err != nil {
			_ = f.Close()
			return err
		}
		return f.Close()
	}
	teamMembers := make([][]int, o.Teams)
	if !o.NoPeople {
		for i := 0; i < o.Users; i++ {
			u := Username(i)
			fmt.Fprintf(w, "dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: User %d\nsn: %d\ngivenName: User\ndisplayName: User %d\n", UserDN(i), u, i, i, i)
			if HasMail(i) {
				fmt.Fprintf(w, "mail: %s@example.org\n", u)
			}
			a := Attrs(i)
			fmt.Fprintf(w, "l: %s\nou: %s\ndepartmentNumber: %s\nbusinessCategory: %s\ntitle: %s\n",
				a["l"], a["ou"], a["departmentNumber"], a["businessCategory"], a["title"])
			if Disabled(i) {
				fmt.Fprintf(w, "pwdAccountLockedTime: 000001010000Z\n")
			}
			w.WriteString("\n")
			teamMembers[Team(i, o.Teams)] = append(teamMembers[Team(i, o.Teams)], i)
		}
	}
	depts := (o.Teams + 9) / 10
	for j := 0; j < o.Teams; j++ {
		fmt.Fprintf(w, "dn: %s\nobjectClass: groupOfNames\ncn: team-%04d\n", TeamDN(j), j)
		if len(teamMembers[j]) == 0 {
			fmt.Fprintf(w, "member: cn=admin,%s\n", BaseDN)
		}
		for _, i := range teamMembers[j] {
			fmt.Fprintf(w, "member: %s\n", UserDN(i))
		}
		w.WriteString("\n")
	}
	for d := 0; d < depts; d++ {
		fmt.Fprintf(w, "dn: %s\nobjectClass: groupOfNames\ncn: dept-%03d\n", DeptDN(d), d)
		for j := d * 10; j < o.Teams && j < (d+1)*10; j++ {
			fmt.Fprintf(w, "member: %s\n", TeamDN(j))
		}
		w.WriteString("\n")
	}
	fmt.Fprintf(w, "dn: cn=all-staff,%s\nobjectClass: groupOfNames\ncn: all-staff\n", GroupsDN)
	for d := 0; d < depts; d++ {
		fmt.Fprintf(w, "member: %s\n", DeptDN(d))
	}
	w.WriteString("\n")
	// A cycle: cycle-a ⊃ cycle-b ⊃ cycle-a, with user 0 in b and user 1 in a.
	first := func(i int) string {
		if o.NoPeople || i >= o.Users {
			return "cn=admin," + BaseDN
		}
		return UserDN(i)
	}
	fmt.Fprintf(w, "dn: cn=cycle-a,%[1]s\nobjectClass: groupOfNames\ncn: cycle-a\nmember: cn=cycle-b,%[1]s\nmember: %[2]s\n\n", GroupsDN, first(1))
	fmt.Fprintf(w, "dn: cn=cycle-b,%[1]s\nobjectClass: groupOfNames\ncn: cycle-b\nmember: cn=cycle-a,%[1]s\nmember: %[2]s\n\n", GroupsDN, first(0))
	// A group whose name needs escaping in filters, and one with a member
	// that is not in the directory.
	fmt.Fprintf(w, "dn: cn=Sales (EMEA) *star*,%s\nobjectClass: groupOfNames\ncn: Sales (EMEA) *star*\nmember: %s\nmember: uid=ghost,%s\n\n", GroupsDN, first(2), PeopleDN)
	if o.ExtraLDIF != "" {
		w.WriteString(strings.TrimSpace(o.ExtraLDIF))
		w.WriteString("\n\n")
	}
	if err := w.Flush(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
