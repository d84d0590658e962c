package pgprovider_test

import (
	"context"
	"database/sql/driver"
	"sync"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
)

// testPool is a minimal routing target: a pool of backends of another server (here the same
// server under another application_name, standing in for a replica).
type testPool struct {
	ctr      *pgprovider.Connector
	mu       sync.Mutex
	idle     []middleware.Backend
	acquired int
	released int
	lastErr  error
}

func (p *testPool) Acquire(ctx context.Context) (middleware.Backend, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.acquired++
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return c, nil
	}
	return p.ctr.OpenBackend(ctx)
}

func (p *testPool) Release(c middleware.Backend, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.released++
	p.lastErr = err
	p.idle = append(p.idle, c)
}

type routeKey struct{}

// router sends statements whose context says so to the pool.
func router(p *testPool) middleware.Wrappers {
	return middleware.Wrappers{
		Rank: middleware.RankRouting,
		Query: func(next middleware.QueryFunc) middleware.QueryFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
				if ctx.Value(routeKey{}) != nil {
					s.Target = p
				}
				return next(ctx, s)
			}
		},
		Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
				if ctx.Value(routeKey{}) != nil {
					s.Target = p
				}
				return next(ctx, s)
			}
		},
	}
}

func TestRoutingTarget(t *testing.T) {
	ctr, err := pgprovider.NewConnector(sharedDSN(t) + " application_name=routed")
	if err != nil {
		t.Fatal(err)
	}
	pool := &testPool{ctr: ctr}
	db := openDB(t, pgprovider.WithMiddleware(withRowsEndCounter2(), declare(), router(pool)))
	routed := context.WithValue(withState("app.tenant_id", "t1"), routeKey{}, true)
	before := rowsEnded2
	for i := 0; i < 3; i++ {
		var app, tenant string
		if err := db.QueryRowContext(routed, `select current_setting('application_name'), current_setting('app.tenant_id')`).Scan(&app, &tenant); err != nil {
			t.Fatal(err)
		}
		if app != "routed" || tenant != "t1" {
			t.Fatalf("routed query ran with application_name=%q tenant=%q", app, tenant)
		}
	}
	if _, err := db.ExecContext(routed, `select 1`); err != nil {
		t.Fatal(err)
	}
	var app string
	if err := db.QueryRowContext(context.Background(), `select current_setting('application_name')`).Scan(&app); err != nil || app == "routed" {
		t.Fatalf("unrouted query: %q %v", app, err)
	}
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if pool.acquired != 4 || pool.released != 4 || len(pool.idle) != 1 {
		t.Fatalf("acquired=%d released=%d idle=%d", pool.acquired, pool.released, len(pool.idle))
	}
	if rowsEnded2-before != 4 { // three routed result sets and one of the session
		t.Fatalf("rows end ran %d times through the session's chain", rowsEnded2-before)
	}
	for _, c := range pool.idle {
		c.Close()
	}
}

var rowsEnded2 int

func withRowsEndCounter2() middleware.Wrappers {
	return middleware.Wrappers{Rank: middleware.RankObserve, RowsEnd: func(next middleware.RowsEndFunc) middleware.RowsEndFunc {
		return func(ctx context.Context, e middleware.RowsEnd) error {
			rowsEnded2++
			return next(ctx, e)
		}
	}}
}

// TestRoutedRowsEndDuration: result sets produced on a borrowed connection, by a routed
// statement or inside a transaction on it, end through the session's chain with their real
// duration.
func TestRoutedRowsEndDuration(t *testing.T) {
	ctr, err := pgprovider.NewConnector(sharedDSN(t) + " application_name=routed")
	if err != nil {
		t.Fatal(err)
	}
	pool := &testPool{ctr: ctr}
	var durations []time.Duration
	var mu sync.Mutex
	observe := middleware.Wrappers{Rank: middleware.RankObserve, RowsEnd: func(next middleware.RowsEndFunc) middleware.RowsEndFunc {
		return func(ctx context.Context, e middleware.RowsEnd) error {
			mu.Lock()
			durations = append(durations, e.Duration)
			mu.Unlock()
			return next(ctx, e)
		}
	}}
	route := router(pool)
	route.Begin = func(next middleware.BeginFunc) middleware.BeginFunc {
		return func(ctx context.Context, b middleware.Begin) error {
			if ctx.Value(routeKey{}) != nil {
				b.Target = pool
			}
			return next(ctx, b)
		}
	}
	db := openDB(t, pgprovider.WithMiddleware(observe, route))
	routed := context.WithValue(context.Background(), routeKey{}, true)
	var app string
	if err := db.QueryRowContext(routed, `select current_setting('application_name')`).Scan(&app); err != nil || app != "routed" {
		t.Fatalf("routed query: %q %v", app, err)
	}
	tx, err := db.BeginTx(routed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRowContext(routed, `select current_setting('application_name')`).Scan(&app); err != nil || app != "routed" {
		t.Fatalf("query in a borrowed transaction: %q %v", app, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(durations) != 2 {
		t.Fatalf("rows end ran %d times, want 2", len(durations))
	}
	for i, d := range durations {
		if d <= 0 || d > time.Minute {
			t.Fatalf("result set %d ended with duration %v", i, d)
		}
	}
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if pool.acquired != pool.released {
		t.Fatalf("acquired %d, released %d", pool.acquired, pool.released)
	}
	for _, c := range pool.idle {
		c.Close()
	}
}
