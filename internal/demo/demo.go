// Package demo runs the embedded demo directory: an in-process, read-only
// LDAP server on 127.0.0.1 with a generated organisation, so that a
// newcomer can try every sync feature without a directory of their own.
package demo

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/idsync/idsync/internal/directory/memldap"
	"github.com/idsync/idsync/internal/model"
)

// Fixed names of the demo directory. The bind password is not a secret:
// the demo serves invented people on the loopback interface only.
const (
	BaseDN     = "dc=demo,dc=idsync,dc=test"
	PeopleDN   = "ou=people," + BaseDN
	GroupsDN   = "ou=groups," + BaseDN
	BindDN     = "cn=idsync-reader,ou=system," + BaseDN
	Password   = "demo"
	SourceName = "Demo directory"
	// Users is the number of people generated.
	Users = 500
)

// Directory is a running demo directory.
type Directory struct {
	srv     *memldap.Server
	entries int
}

// Start generates the demo organisation (the same every time) and serves
// it until Close or until ctx ends. It fails when no local port is free.
func Start(ctx context.Context, logger *slog.Logger) (*Directory, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	entries := Generate()
	srv, err := memldap.Start(ctx, entries, memldap.Options{BindDN: BindDN, Password: Password, Logger: logger,
		Operational: []string{"entryUUID", "pwdAccountLockedTime", "memberOf"}})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	logger.Info("demo directory listening", "url", srv.URL(), "entries", len(entries))
	return &Directory{srv: srv, entries: len(entries)}, nil
}

// URL returns ldap://127.0.0.1:<port>.
func (d *Directory) URL() string { return d.srv.URL() }

// Close stops the server.
func (d *Directory) Close() error { return d.srv.Close() }

// Source returns a ready Source for the demo directory (Demo=true, OpenLDAP
// defaults, disabled flag a permanent ppolicy lock).
func (d *Directory) Source() model.Source {
	s := model.DefaultSource(model.SourceOpenLDAP)
	s.Name = SourceName
	s.Demo = true
	s.URLs = []string{d.srv.URL()}
	s.BindDN = BindDN
	s.BindPassword = Password
	s.UserBaseDN = PeopleDN
	s.GroupBaseDN = GroupsDN
	s.Timeout = 10 * time.Second
	s.Attributes.Disabled = "locked(pwdAccountLockedTime)"
	return s
}

type person struct {
	uid, dn, dept, unit, loc, title string
	idx                             int
}

// Generate returns the demo organisation's entries. It is deterministic:
// the same seed gives the same people, ids and groups on every start.
func Generate() []memldap.Entry {
	rng := rand.New(rand.NewPCG(20261123, 42))
	first := []string{"Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hannes", "Ida", "Jonas", "Katrin", "Lukas",
		"Mia", "Noah", "Olga", "Paul", "Quentin", "Rosa", "Simon", "Tara", "Uwe", "Vera", "Willi", "Xenia", "Yusuf", "Zoe",
		"Amir", "Björn", "Chloé", "Dario", "Elif", "Farid", "Hana", "Ingrid", "Jamal", "Leila", "Marta", "Nils", "Priya", "Sven"}
	last := []string{"Schmidt", "Müller", "Weber", "Fischer", "Meyer", "Wagner", "Becker", "Hoffmann", "Koch", "Richter",
		"Klein", "Wolf", "Neumann", "Schwarz", "Braun", "Hofmann", "Zimmermann", "Krüger", "Hartmann", "Lange", "Dubois",
		"Martin", "Rossi", "Novak", "Kowalski", "Jensen", "Silva", "Okafor", "Nguyen", "Yilmaz"}
	locations := []string{"Berlin", "Munich", "Hamburg", "Vienna", "Zurich", "London"}
	units := []string{"Retail", "Logistics", "Field Service", "Corporate IT", "Finance"}
	depts := map[string][]string{
		"Retail":        {"Store Operations", "Customer Care"},
		"Logistics":     {"Warehouse", "Transport"},
		"Field Service": {"Installation", "Maintenance"},
		"Corporate IT":  {"Platform", "Service Desk"},
		"Finance":       {"Controlling", "Accounting"},
	}
	titles := map[string][]string{
		"Store Operations": {"Store Manager", "Sales Associate", "Cashier"},
		"Customer Care":    {"Support Agent", "Team Lead"},
		"Warehouse":        {"Picker", "Shift Supervisor", "Forklift Driver"},
		"Transport":        {"Driver", "Dispatcher"},
		"Installation":     {"Technician", "Senior Technician"},
		"Maintenance":      {"Technician", "Field Engineer"},
		"Platform":         {"Engineer", "Architect", "IT Manager"},
		"Service Desk":     {"Support Engineer", "IT Manager"},
		"Controlling":      {"Controller", "Analyst"},
		"Accounting":       {"Accountant", "Head of Accounting"},
	}
	slug := func(s string) string {
		r := strings.NewReplacer(" ", "-", "ü", "ue", "ö", "oe", "ä", "ae", "é", "e", "ø", "o")
		return strings.ToLower(r.Replace(s))
	}
	uuid := func() string {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		b[6] = b[6]&0x0f | 0x40
		b[8] = b[8]&0x3f | 0x80
		return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	}
	var out []memldap.Entry
	add := func(dn string, kv map[string][]string) { out = append(out, memldap.Entry{DN: dn, Attrs: kv}) }
	add(BaseDN, map[string][]string{"objectClass": {"top", "dcObject", "organization"}, "dc": {"demo"}, "o": {"idsync demo"}})
	for _, ou := range []string{"people", "groups", "system"} {
		add("ou="+ou+","+BaseDN, map[string][]string{"objectClass": {"top", "organizationalUnit"}, "ou": {ou}, "entryUUID": {uuid()}})
	}
	add(BindDN, map[string][]string{"objectClass": {"top", "person"}, "cn": {"idsync-reader"}, "sn": {"reader"}})

	var people []person
	used := map[string]int{}
	for i := 0; i < Users; i++ {
		fn, ln := first[rng.IntN(len(first))], last[rng.IntN(len(last))]
		uid := slug(fn) + "." + slug(ln)
		used[uid]++
		if used[uid] > 1 {
			uid = fmt.Sprintf("%s%d", uid, used[uid])
		}
		unit := units[rng.IntN(len(units))]
		dept := depts[unit][rng.IntN(len(depts[unit]))]
		loc := locations[rng.IntN(len(locations))]
		title := titles[dept][rng.IntN(len(titles[dept]))]
		li, ui := indexOf(locations, loc), indexOf(units, unit)
		p := person{uid: uid, dn: "uid=" + uid + "," + PeopleDN, dept: dept, unit: unit, loc: loc, title: title, idx: i}
		people = append(people, p)
		attrs := map[string][]string{
			"objectClass":      {"top", "person", "organizationalPerson", "inetOrgPerson"},
			"uid":              {uid},
			"cn":               {fn + " " + ln},
			"sn":               {ln},
			"givenName":        {fn},
			"displayName":      {fn + " " + ln},
			"mail":             {uid + "@demo.idsync.test"},
			"l":                {loc},
			"ou":               {unit},
			"departmentNumber": {fmt.Sprintf("CC-%d%d0", ui+1, li+1)},
			"businessCategory": {dept},
			"title":            {title},
			"employeeNumber":   {fmt.Sprintf("%05d", 10000+i)},
			"entryUUID":        {uuid()},
		}
		if i%11 == 7 { // some people are not yet fully on file
			delete(attrs, "mail")
		}
		if rng.IntN(100) < 3 {
			attrs["pwdAccountLockedTime"] = []string{"000001010000Z"} // a permanent ppolicy lock
		}
		add(p.dn, attrs)
	}

	group := func(cn string, members []string) {
		if len(members) == 0 {
			members = []string{BindDN}
		}
		add("cn="+cn+","+GroupsDN, map[string][]string{"objectClass": {"top", "groupOfNames"}, "cn": {cn},
			"description": {"demo group " + cn}, "member": members, "entryUUID": {uuid()}})
	}
	gdn := func(cn string) string { return "cn=" + cn + "," + GroupsDN }
	pick := func(f func(p person) bool) []string {
		var m []string
		for _, p := range people {
			if f(p) {
				m = append(m, p.dn)
			}
		}
		return m
	}
	// Teams by department, units containing their teams, everyone
	// containing the units: three levels of nesting.
	var unitGroups []string
	for _, u := range units {
		var teamDNs []string
		for _, d := range depts[u] {
			cn := "team-" + slug(d)
			group(cn, pick(func(p person) bool { return p.dept == d }))
			teamDNs = append(teamDNs, gdn(cn))
		}
		group("unit-"+slug(u), teamDNs)
		unitGroups = append(unitGroups, gdn("unit-"+slug(u)))
	}
	group("all-employees", unitGroups)
	var locGroups []string
	for _, l := range locations {
		group("loc-"+slug(l), pick(func(p person) bool { return p.loc == l }))
		locGroups = append(locGroups, gdn("loc-"+slug(l)))
	}
	group("all-sites", locGroups)
	// Provisioning groups: field and store staff carry devices (nested
	// through their team groups); IT managers administer.
	group("idsync-device-users", []string{gdn("team-installation"), gdn("team-maintenance"), gdn("team-store-operations"),
		gdn("team-warehouse"), gdn("team-transport")})
	group("idsync-admins", pick(func(p person) bool { return p.title == "IT Manager" || p.title == "Head of Accounting" }))
	group("idsync-users", []string{gdn("team-platform"), gdn("team-service-desk"), gdn("team-controlling"), gdn("team-accounting"), gdn("team-customer-care")})
	// A cycle, as real directories have them.
	group("project-alpha", append(pick(func(p person) bool { return p.idx%50 == 1 }), gdn("project-beta")))
	group("project-beta", append(pick(func(p person) bool { return p.idx%50 == 2 }), gdn("project-alpha")))
	group("contractors", append(pick(func(p person) bool { return p.idx%40 == 3 }), "uid=former.contractor,"+PeopleDN))
	return out
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}
