package pgprovider_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider/internal/faultproxy"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/pgerror"
)

// tally counts what happened to a randomised workload.
type tally struct {
	attempted, acknowledged, failed, unknown int
	applied, duplicated, lost                int // lost: acknowledged but not applied
}

func (t tally) String() string {
	return fmt.Sprintf("attempted=%d acknowledged=%d failed=%d (outcome unknown %d) applied=%d duplicated=%d acknowledged-but-lost=%d",
		t.attempted, t.acknowledged, t.failed, t.unknown, t.applied, t.duplicated, t.lost)
}

// runCutWorkload runs n autocommit increments and n inserts through driverName while the proxy
// cuts connections at random points. Each operation logs its own id in the same statement, so
// every application of every operation is counted.
func runCutWorkload(t *testing.T, driverName string, n int, seed int64) (upd, ins tally) {
	node := pgtest.Shared(t).Primary()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, err := faultproxy.New(fmt.Sprintf("%s:%d", node.Host, node.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	suffix := fmt.Sprintf("%s_%d", map[string]string{"pgx": "pgx", "pgprovider": "pgp"}[driverName], time.Now().UnixNano())
	for _, q := range []string{
		`create table ctr_` + suffix + ` (id int primary key, n int not null)`,
		`insert into ctr_` + suffix + ` values (1, 0)`,
		`create table ulog_` + suffix + ` (op int not null)`, // no unique constraint, on purpose
		`create table ins_` + suffix + ` (op int not null)`,
	} {
		if err := node.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open(driverName, node.DSN("host", p.Host(), "port", strconv.Itoa(p.Port())))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(4)
	p.SetRandomCut(0.02, seed)

	record := func(tl *tally, err error) {
		tl.attempted++
		if err == nil {
			tl.acknowledged++
			return
		}
		tl.failed++
		if errors.Is(err, pgerror.OutcomeUnknown) {
			tl.unknown++
		}
	}
	for i := 0; i < n; i++ {
		opCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		// No arguments: the simple-protocol path that pgx stdlib retries unsafely.
		_, err := db.ExecContext(opCtx, fmt.Sprintf(
			`with u as (update ctr_%s set n = n + 1 where id = 1 returning 1) insert into ulog_%s select %d from u`, suffix, suffix, i))
		record(&upd, err)
		_, err = db.ExecContext(opCtx, fmt.Sprintf(`insert into ins_%s values (%d)`, suffix, i))
		record(&ins, err)
		cancel()
	}
	p.SetRandomCut(0, 0)

	count := func(table string, acked map[int]bool) tally {
		var tl tally
		rows, err := node.Connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close(ctx)
		r, err := rows.Query(ctx, `select op, count(*) from `+table+` group by op`)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for r.Next() {
			var op, c int
			if err := r.Scan(&op, &c); err != nil {
				t.Fatal(err)
			}
			tl.applied += c
			if c > 1 {
				tl.duplicated += c - 1
			}
		}
		return tl
	}
	u, in := count("ulog_"+suffix, nil), count("ins_"+suffix, nil)
	upd.applied, upd.duplicated = u.applied, u.duplicated
	ins.applied, ins.duplicated = in.applied, in.duplicated
	return upd, ins
}

// TestExactlyOnceUnderRandomCuts is issue 9's randomised comparison: with no middleware,
// pgprovider never applies a write twice and applies every acknowledged write, while raw pgx
// stdlib under the same cuts duplicates some.
func TestExactlyOnceUnderRandomCuts(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 300
	}
	for _, drv := range []string{"pgx", "pgprovider", "pgprovider-pass-through"} {
		upd, ins := runCutWorkload(t, drv, n, 42)
		// Acknowledged but not applied: every acknowledged op must appear at least once.
		upd.lost = max(0, upd.acknowledged-(upd.applied-upd.duplicated))
		ins.lost = max(0, ins.acknowledged-(ins.applied-ins.duplicated))
		t.Logf("%-10s UPDATE: %v", drv, upd)
		t.Logf("%-10s INSERT: %v", drv, ins)
		if os.Getenv("PGPROVIDER_REPORT") != "" {
			fmt.Printf("| %s | UPDATE | %v |\n| %s | INSERT | %v |\n", drv, upd, drv, ins)
		}
		if drv == "pgx" {
			continue
		}
		for name, tl := range map[string]tally{"update": upd, "insert": ins} {
			if tl.duplicated != 0 {
				t.Errorf("%s: %d duplicated writes", name, tl.duplicated)
			}
			// Every applied op is either acknowledged or failed with an unknown outcome.
			if tl.applied > tl.acknowledged+tl.unknown {
				t.Errorf("%s: applied %d > acknowledged %d + unknown %d", name, tl.applied, tl.acknowledged, tl.unknown)
			}
			if tl.applied < tl.acknowledged {
				t.Errorf("%s: acknowledged %d but only %d applied", name, tl.acknowledged, tl.applied)
			}
			if tl.failed == 0 {
				t.Errorf("%s: the proxy cut nothing; the test proves nothing", name)
			}
		}
	}
}
