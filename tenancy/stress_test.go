package tenancy_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
	"github.com/pgprovider/pgprovider/tenancy"
)

// stressStatements is the statement count per mode: 100 000 by default, 30 000 under the race
// detector (which makes the client about three times slower on a 2-core machine), 10 000
// with -short. -tenancy.stress=100000 forces the full count in any build.
var stressStatements = flag.Int("tenancy.stress", 0, "statements per mode in the isolation stress test (0: 100000, 30000 with -race, 10000 with -short)")

func stressTotal() int64 {
	switch {
	case *stressStatements > 0:
		return int64(*stressStatements)
	case testing.Short():
		return 10000
	case raceEnabled:
		return 30000
	}
	return 100000
}

const (
	stressWorkers = 50
	stressTenants = 20
	stressConns   = 8
)

// stressMode is one way of isolating tenants, as the stress test drives it.
type stressMode struct {
	name  string
	dsn   string // without application_name
	mw    middleware.Middleware
	query string                 // reads what the tenant can see of its marker
	want  func(id string) string // the marker tenant id must read
}

// Isolation stress test: every statement reads a marker row that exists once per tenant
// (a schema's row, or a row visible through the policy); a statement that reads any other
// value is a leak. Autocommit, transactions, prepared statements, deadlines and backend
// terminations are mixed over a small pool.
func TestStressIsolation(t *testing.T) {
	ids := tenants(t, "st_", stressTenants)
	rlsDSN := rlsSetup(t, "rls_stress", stressTenants)
	modes := []stressMode{
		{"schema", pgtest.Shared(t).Primary().DSN(), tenancy.Schema(tenancy.WithPrefix("st_")), markerSQL[len("SELECT current_schema(), "):],
			func(id string) string { return "st_" + id }},
		{"rls", rlsDSN, tenancy.RLS("app.tenant_id"), "SELECT coalesce(string_agg(marker, ','), '') FROM rls_stress",
			func(id string) string { return "m" + id[1:] }},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := runStress(t, m, ids, stressTotal())
			if c.leaks.Load() != 0 || c.unexpected.Load() != 0 {
				t.Fatalf("leaks %d, unexpected errors %d", c.leaks.Load(), c.unexpected.Load())
			}
			if c.kills.Load() == 0 {
				t.Fatal("no backend was killed: the test did not exercise reconnection")
			}
			if c.ok.Load() < c.statements.Load()/2 {
				t.Fatalf("only %d of %d statements succeeded", c.ok.Load(), c.statements.Load())
			}
		})
	}
}

// The stress test sees a leak when there is one: here prepared statements skip the tenancy
// middleware, so they run with whatever search_path the pooled backend last had.
func TestStressDetectsLeaks(t *testing.T) {
	ids := tenants(t, "lk_", stressTenants)
	schema := tenancy.Schema(tenancy.WithPrefix("lk_")).Wrappers(nil)
	broken := middleware.Wrappers{Rank: middleware.RankTenancy,
		Query: func(next middleware.QueryFunc) middleware.QueryFunc {
			scoped := schema.Query(next)
			return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
				if s.Prepared {
					return next(ctx, s)
				}
				return scoped(ctx, s)
			}
		},
		Prepare: schema.Prepare,
	}
	m := stressMode{"broken", pgtest.Shared(t).Primary().DSN(), broken, markerSQL[len("SELECT current_schema(), "):],
		func(id string) string { return "lk_" + id }}
	if c := runStress(t, m, ids, 3000); c.leaks.Load() == 0 {
		t.Fatal("a broken middleware leaked nothing: the stress test cannot see leaks")
	}
}

type stressCounts struct {
	statements, ok, expectedErrs, leaks, unexpected, kills atomic.Int64
}

// runStress runs total statements of the mix and reports what happened.
func runStress(t *testing.T, m stressMode, ids []string, total int64) *stressCounts {
	app := "tenancy_stress_" + m.name
	db, err := pgprovider.Open(m.dsn+" application_name="+app, pgprovider.WithMiddleware(m.mw))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(stressConns)
	db.SetMaxIdleConns(stressConns)
	st, err := db.PrepareContext(as(ids[0]), m.query)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	var c stressCounts
	var firstErrs sync.Map
	check := func(ctx context.Context, id, got string, err error) {
		c.statements.Add(1)
		switch {
		case err == nil && got == m.want(id):
			c.ok.Add(1)
		case err == nil:
			c.leaks.Add(1)
			firstErrs.LoadOrStore("leak", fmt.Sprintf("tenant %s read %q", id, got))
		case expectedStressErr(ctx, err):
			c.expectedErrs.Add(1)
		default:
			c.unexpected.Add(1)
			firstErrs.LoadOrStore(err.Error(), err)
		}
	}
	read := func(ctx context.Context, q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) (string, error) {
		var s string
		err := q.QueryRowContext(ctx, m.query).Scan(&s)
		return s, err
	}

	done := make(chan struct{})
	killerDone := make(chan struct{})
	go func() { // backend kills, bounded by the workers' lifetime
		defer close(killerDone)
		tick := time.NewTicker(150 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				n, _ := pgtest.Shared(t).Primary().TerminateBackends(context.Background(), "application_name = '"+app+"'")
				c.kills.Add(int64(n))
			}
		}
	}()

	start := time.Now()
	var wg sync.WaitGroup
	for g := range stressWorkers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 42))
			for c.statements.Load() < total {
				id := ids[r.IntN(len(ids))]
				ctx := as(id)
				switch p := r.IntN(100); {
				case p < 60: // autocommit
					got, err := read(ctx, db)
					check(ctx, id, got, err)
				case p < 75: // transaction of three statements, committed or rolled back
					tx, err := db.BeginTx(ctx, nil)
					if err != nil {
						check(ctx, id, "", err)
						continue
					}
					for i := range 3 {
						sctx := ctx
						if i == 1 {
							sctx = context.Background() // the transaction's tenant applies
						}
						got, err := read(sctx, tx)
						check(ctx, id, got, err)
					}
					if p%2 == 0 {
						_ = tx.Commit()
					} else {
						_ = tx.Rollback()
					}
				case p < 90: // prepared statement shared by every tenant
					var got string
					err := st.QueryRowContext(ctx).Scan(&got)
					check(ctx, id, got, err)
				default: // a deadline that often expires mid-statement
					dctx, cancel := context.WithTimeout(ctx, time.Duration(r.IntN(400))*time.Microsecond)
					got, err := read(dctx, db)
					check(dctx, id, got, err)
					cancel()
				}
			}
		})
	}
	wg.Wait()
	close(done)
	<-killerDone
	elapsed := time.Since(start)

	t.Logf("mode %s: %d statements in %v (%.0f/s), ok %d, expected errors %d (deadlines, killed backends), leaks %d, unexpected errors %d, backends killed %d",
		m.name, c.statements.Load(), elapsed.Round(time.Millisecond), float64(c.statements.Load())/elapsed.Seconds(),
		c.ok.Load(), c.expectedErrs.Load(), c.leaks.Load(), c.unexpected.Load(), c.kills.Load())
	firstErrs.Range(func(k, v any) bool { t.Logf("sample: %v", v); return true })
	return &c
}

// expectedStressErr reports the errors the stress test provokes on purpose: deadlines and
// killed backends. Anything else (a tenancy error, 0A000, 42P01) fails the test.
func expectedStressErr(ctx context.Context, err error) bool {
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return true // the dialer may time out a hair before the context's own timer fires
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, pgerror.OutcomeUnknown) || errors.Is(err, sql.ErrTxDone) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "57P01" || strings.HasPrefix(pe.Code, "08") || pe.Code == "25P02"
	}
	s := err.Error()
	for _, frag := range []string{"conn closed", "connection reset", "broken pipe", "EOF", "terminating connection"} {
		if strings.Contains(s, frag) {
			return true
		}
	}
	return false
}
