package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
)

// Seed fills s with users (each with all five default attributes, coming
// from one directory source) and devices (assigned round-robin to the users
// and carrying their enterprise-group values), fast: multi-row INSERTs in
// one transaction, bypassing audit and product hooks. Usernames are
// user000000…, device names DEV-000000…, serials SN00000000…. It fails tb on
// any error. Call it on an empty store.
func Seed(tb testing.TB, s *store.Store, users, devices int) {
	tb.Helper()
	if err := seed(context.Background(), s, users, devices); err != nil {
		tb.Fatalf("storetest: seed: %v", err)
	}
}

// seedLists holds the values seeded rows cycle through.
type seedLists struct {
	first, last, loc, unit, dept, title, plat []string
}

func newSeedLists() seedLists {
	return seedLists{
		first: []string{"Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Karla", "Leon", "Mia", "Noah", "Olga", "Paul"},
		last:  []string{"Schmidt", "Müller", "Meyer", "Weber", "Wagner", "Becker", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Neumann"},
		loc:   []string{"Berlin", "Munich", "Hamburg", "Paris", "Lyon", "London", "Madrid", "Rome", "Vienna", "Zurich", "Oslo", "Warsaw", "Prague", "Dublin", "Lisbon", "Brussels", "Amsterdam", "Stockholm", "Helsinki", "Athens"},
		unit:  []string{"Retail", "Wholesale", "Logistics", "Finance", "IT", "HR", "Legal", "Research"},
		dept:  []string{"Sales", "Support", "Engineering", "Marketing", "Operations", "Purchasing", "Accounting", "Security", "Facilities", "Training", "Quality", "Planning"},
		title: []string{"Clerk", "Engineer", "Manager", "Director", "Analyst", "Technician", "Consultant", "Assistant", "Specialist", "Lead"},
		plat:  []string{"Windows", "macOS", "Linux", "iOS", "Android"},
	}
}

func (l seedLists) attrs(i int) (loc, unit, cc, dept, title string) {
	return l.loc[i%len(l.loc)], l.unit[i%len(l.unit)], fmt.Sprintf("CC-%03d", i%100), l.dept[i%len(l.dept)], l.title[i%len(l.title)]
}

func seed(ctx context.Context, s *store.Store, nUsers, nDevices int) error {
	l := newSeedLists()
	src := model.DefaultSource(model.SourceOpenLDAP)
	src.Name = "Seed directory"
	src.URLs = []string{"ldap://127.0.0.1:1"}
	src.UserBaseDN = "ou=people,dc=example,dc=com"
	if err := s.CreateSource(ctx, &src); err != nil {
		return err
	}
	defs, err := s.ListAttributes(ctx)
	if err != nil {
		return err
	}
	attrID := map[string]int64{}
	for _, d := range defs {
		attrID[d.Key] = d.ID
	}
	db, err := s.SQL()
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	pg := s.Dialect() == store.DialectPostgres
	ins := &inserter{ctx: ctx, tx: tx, pg: pg}

	var firstUser int64
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) + 1 FROM users").Scan(&firstUser); err != nil {
		return err
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	userCols := "id, username, username_key, email, email_key, display_name, search, status, origin, account_type, source_id, external_id, dn, disabled_by_sync, version, created_at, updated_at"
	for i := range nUsers {
		id := firstUser + int64(i)
		name := fmt.Sprintf("user%06d", i)
		email := name + "@example.com"
		display := l.first[i%len(l.first)] + " " + l.last[(i/len(l.first))%len(l.last)]
		status := "active"
		if i%50 == 49 {
			status = "disabled"
		}
		t := base.Add(time.Duration(i) * time.Second)
		if err := ins.row("users", userCols, id, name, name, email, email, display,
			strings.ToLower(name+"\n"+email+"\n"+display), status, "directory", "device_enabled", src.ID,
			fmt.Sprintf("ext-%08d", i), "uid="+name+",ou=people,dc=example,dc=com", false, 1, t, t); err != nil {
			return err
		}
	}
	if err := ins.flush(); err != nil {
		return err
	}
	for i := range nUsers {
		id := firstUser + int64(i)
		loc, unit, cc, dept, title := l.attrs(i)
		for k, v := range map[string]string{model.AttrLocation: loc, model.AttrCorporateUnit: unit, model.AttrCostCenter: cc, model.AttrDepartment: dept, model.AttrTitle: title} {
			if err := ins.row("user_attribute_values", "user_id, attribute_id, value", id, attrID[k], v); err != nil {
				return err
			}
		}
	}
	if err := ins.flush(); err != nil {
		return err
	}

	var firstDev int64
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) + 1 FROM devices").Scan(&firstDev); err != nil {
		return err
	}
	devCols := "id, name, serial, platform, search, user_id, created_at, updated_at"
	for i := range nDevices {
		id := firstDev + int64(i)
		name, serial, plat := fmt.Sprintf("DEV-%06d", i), fmt.Sprintf("SN%08d", i), l.plat[i%len(l.plat)]
		var user any
		if nUsers > 0 {
			user = firstUser + int64(i%nUsers)
		}
		t := base.Add(time.Duration(i) * time.Second)
		if err := ins.row("devices", devCols, id, name, serial, plat, strings.ToLower(name+"\n"+serial+"\n"+plat), user, t, t); err != nil {
			return err
		}
	}
	if err := ins.flush(); err != nil {
		return err
	}
	for i := range nDevices {
		id := firstDev + int64(i)
		u := i
		if nUsers > 0 {
			u = i % nUsers
		}
		loc, unit, cc, _, _ := l.attrs(u)
		for k, v := range map[string]string{model.AttrLocation: loc, model.AttrCorporateUnit: unit, model.AttrCostCenter: cc} {
			if err := ins.row("device_attribute_values", "device_id, attribute_id, value", id, attrID[k], v); err != nil {
				return err
			}
		}
	}
	if err := ins.flush(); err != nil {
		return err
	}
	if pg {
		for _, t := range []string{"users", "devices"} {
			if _, err := tx.ExecContext(ctx, "SELECT setval(pg_get_serial_sequence('"+t+"', 'id'), (SELECT MAX(id) FROM "+t+"))"); err != nil {
				return err
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// fresh planner statistics and visibility map, as autovacuum would
	// leave a live database
	stmt := "ANALYZE"
	if pg {
		stmt = "VACUUM ANALYZE"
	}
	_, err = db.ExecContext(ctx, stmt)
	return err
}

// inserter batches rows of one table into multi-row INSERTs, staying under
// both databases' bound-parameter limits.
type inserter struct {
	ctx   context.Context
	tx    *sql.Tx
	pg    bool
	table string
	cols  string
	ncols int
	rows  int
	args  []any
	sql   strings.Builder
}

const maxParams = 30000

func (in *inserter) row(table, cols string, vals ...any) error {
	if table != in.table || cols != in.cols {
		if err := in.flush(); err != nil {
			return err
		}
		in.table, in.cols, in.ncols = table, cols, len(vals)
	}
	if len(in.args)+len(vals) > maxParams {
		if err := in.flush(); err != nil {
			return err
		}
	}
	if in.rows == 0 {
		in.sql.Reset()
		in.sql.WriteString("INSERT INTO " + in.table + " (" + in.cols + ") VALUES ")
	} else {
		in.sql.WriteByte(',')
	}
	in.sql.WriteByte('(')
	for i := range vals {
		if i > 0 {
			in.sql.WriteByte(',')
		}
		if in.pg {
			in.sql.WriteString("$" + strconv.Itoa(len(in.args)+i+1))
		} else {
			in.sql.WriteByte('?')
		}
	}
	in.sql.WriteByte(')')
	in.args = append(in.args, vals...)
	in.rows++
	return nil
}

func (in *inserter) flush() error {
	if in.rows == 0 {
		return nil
	}
	if _, err := in.tx.ExecContext(in.ctx, in.sql.String(), in.args...); err != nil {
		return fmt.Errorf("insert into %s: %w", in.table, err)
	}
	in.rows, in.args = 0, in.args[:0]
	return nil
}
