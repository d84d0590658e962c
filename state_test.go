package pgprovider_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
)

type stateKey struct{}

// declare is a test middleware that declares the session state carried by the context, the
// way the tenancy middleware does.
func declare() middleware.Wrappers {
	st := func(ctx context.Context) middleware.State {
		s, _ := ctx.Value(stateKey{}).(middleware.State)
		return s
	}
	return middleware.Wrappers{
		Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
				s.State = st(ctx)
				return next(ctx, s)
			}
		},
		Query: func(next middleware.QueryFunc) middleware.QueryFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
				s.State = st(ctx)
				return next(ctx, s)
			}
		},
		Begin: func(next middleware.BeginFunc) middleware.BeginFunc {
			return func(ctx context.Context, b middleware.Begin) error {
				b.State = st(ctx)
				return next(ctx, b)
			}
		},
		Raw: func(next middleware.CallFunc) middleware.CallFunc {
			return func(ctx context.Context, c middleware.Call) error {
				c.State = st(ctx)
				return next(ctx, c)
			}
		},
	}
}

// setConfigCounter counts set_config round trips through a pgx tracer.
type setConfigCounter struct{ n atomic.Int64 }

func (c *setConfigCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.HasPrefix(d.SQL, "SELECT set_config(") {
		c.n.Add(1)
	}
	return ctx
}
func (c *setConfigCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func withState(kv ...string) context.Context {
	var s middleware.State
	for i := 0; i < len(kv); i += 2 {
		s = s.With(kv[i], kv[i+1])
	}
	return context.WithValue(context.Background(), stateKey{}, s)
}

func TestDeclaredSessionState(t *testing.T) {
	counter := &setConfigCounter{}
	db := openDB(t, pgprovider.WithMiddleware(declare()), pgprovider.WithConnConfig(func(c *pgx.ConnConfig) { c.Tracer = counter }))
	db.SetMaxOpenConns(1) // every statement reuses the same backend
	mustExec(t, db, `create schema if not exists st_a`)
	mustExec(t, db, `create schema if not exists "st b"`)

	a := withState("search_path", middleware.SearchPath("st_a"), "app.tenant_id", "a")
	b := withState("search_path", middleware.SearchPath("st b"), "app.tenant_id", "b")
	check := func(ctx context.Context, wantPath, wantTenant string) {
		t.Helper()
		var path, tenant string
		if err := db.QueryRowContext(ctx, `select current_setting('search_path'), current_setting('app.tenant_id', true)`).Scan(&path, &tenant); err != nil {
			t.Fatal(err)
		}
		if path != wantPath || tenant != wantTenant {
			t.Fatalf("got search_path=%q tenant=%q, want %q %q", path, tenant, wantPath, wantTenant)
		}
	}
	rounds := func() int64 { return counter.n.Load() }

	check(a, `"st_a", pg_temp`, "a")
	if rounds() != 1 {
		t.Fatalf("first statement: %d set_config round trips, want 1", rounds())
	}
	check(a, `"st_a", pg_temp`, "a")
	check(a, `"st_a", pg_temp`, "a")
	if rounds() != 1 {
		t.Fatalf("unchanged state cost %d extra round trips", rounds()-1)
	}
	check(b, `"st b", pg_temp`, "b")
	if rounds() != 2 {
		t.Fatalf("a switch must cost exactly one round trip, got %d", rounds()-1)
	}

	t.Run("rollback reverts state set inside the transaction", func(t *testing.T) {
		check(a, `"st_a", pg_temp`, "a")
		tx, err := db.BeginTx(a, nil)
		if err != nil {
			t.Fatal(err)
		}
		var s string
		if err := tx.QueryRowContext(b, `select current_setting('app.tenant_id')`).Scan(&s); err != nil || s != "b" {
			t.Fatalf("in tx: %q %v", s, err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		check(b, `"st b", pg_temp`, "b") // the server reverted to a; the driver must re-apply b
		check(a, `"st_a", pg_temp`, "a")
	})
	t.Run("error aborting a transaction", func(t *testing.T) {
		tx, _ := db.BeginTx(a, nil)
		if _, err := tx.ExecContext(b, `select 1/0`); err == nil {
			t.Fatal("want division by zero")
		}
		if err := tx.Commit(); err == nil {
			t.Fatal("commit of an aborted transaction must fail")
		}
		check(b, `"st b", pg_temp`, "b")
	})
	t.Run("user SET, RESET, DISCARD and set_config", func(t *testing.T) {
		for _, q := range []string{`set search_path = public`, `reset all`, `discard all`, `select set_config('app.tenant_id', 'zzz', false)`, ` /* c */ SET app.tenant_id = 'x'`} {
			check(a, `"st_a", pg_temp`, "a")
			if _, err := db.ExecContext(a, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			check(a, `"st_a", pg_temp`, "a")
		}
	})
	t.Run("raw access applies state first", func(t *testing.T) {
		ctx := context.Background()
		c, _ := db.Conn(ctx)
		defer c.Close()
		err := pgprovider.Raw(b, c, func(ctx context.Context, pc *pgx.Conn) error {
			var s string
			if err := pc.QueryRow(ctx, `select current_setting('app.tenant_id')`).Scan(&s); err != nil || s != "b" {
				t.Errorf("raw sees %q %v", s, err)
			}
			_, err := pc.Exec(ctx, `set app.tenant_id = 'raw'`)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var s string
		if err := c.QueryRowContext(b, `select current_setting('app.tenant_id')`).Scan(&s); err != nil || s != "b" {
			t.Fatalf("after raw: %q %v", s, err)
		}
	})
	t.Run("value quoting cannot inject", func(t *testing.T) {
		evil := withState("search_path", middleware.SearchPath(`x", public, "y`), "app.tenant_id", `'; drop table x; --`)
		var path, tenant string
		if err := db.QueryRowContext(evil, `select current_setting('search_path'), current_setting('app.tenant_id')`).Scan(&path, &tenant); err != nil {
			t.Fatal(err)
		}
		if path != `"x"", public, ""y", pg_temp` || tenant != `'; drop table x; --` {
			t.Fatalf("got %q %q", path, tenant)
		}
	})
}

func TestDeclaredStateAcrossPool(t *testing.T) {
	db := openDB(t, pgprovider.WithMiddleware(declare()))
	db.SetMaxOpenConns(4)
	ctx := context.Background()
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func(g int) {
			tenant := string(rune('a' + g%4))
			c := withState("app.tenant_id", tenant)
			for i := 0; i < 100; i++ {
				var got string
				var err error
				if i%10 == 0 {
					var tx *sql.Tx
					if tx, err = db.BeginTx(c, nil); err == nil {
						err = tx.QueryRowContext(c, `select current_setting('app.tenant_id')`).Scan(&got)
						if i%20 == 0 {
							tx.Rollback()
						} else {
							tx.Commit()
						}
					}
				} else {
					err = db.QueryRowContext(c, `select current_setting('app.tenant_id')`).Scan(&got)
				}
				if err == nil && got != tenant {
					err = &mismatch{tenant, got}
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(g)
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	_ = ctx
}

type mismatch struct{ want, got string }

func (m *mismatch) Error() string { return "state leak: want " + m.want + " got " + m.got }

// TestListenDetection: a statement that merely mentions a table named like "listeners" must
// not make the driver run UNLISTEN * on reuse (a round trip per checkout), while a real LISTEN
// is cleaned up before the next borrower.
func TestListenDetection(t *testing.T) { forEachChain(t, testListenDetection) }

func testListenDetection(t *testing.T, ch chain) {
	db := openDB(t, ch.opts...)
	db.SetMaxOpenConns(1)
	ctx := ctxT(t)
	mustExec(t, db, `create table if not exists listeners (n int)`)
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	listened := func() (l bool) {
		if err := c.Raw(func(dc any) error { l = pgprovider.Listened(dc); return nil }); err != nil {
			t.Fatal(err)
		}
		return l
	}
	mustExec(t, c, `select count(*) from listeners`)
	mustExec(t, c, `update listeners set n = n + 1`)
	if listened() {
		t.Fatal("a table named listeners marked the connection as listening")
	}
	mustExec(t, c, `listen some_channel`)
	if !listened() {
		t.Fatal("LISTEN did not mark the connection")
	}
	c.Close()
	var channels int
	if err := db.QueryRowContext(ctx, `select count(*) from pg_listening_channels()`).Scan(&channels); err != nil {
		t.Fatal(err)
	}
	if channels != 0 {
		t.Fatalf("the next borrower inherited %d LISTEN subscriptions", channels)
	}
}
