package pgprovider_test

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // raw pgx stdlib, for comparison
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/faultproxy"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
)

// cutter arms a one-shot cut on the next request that executes something: a client chunk
// that starts with a simple Query ('Q') or a Bind ('B') message.
type cutter struct {
	armed  atomic.Int32 // 0: off; 1: cut before; 2: cut after; 3: cut in the middle of the reply; 4: drop the reply
	replyN atomic.Int32 // connection whose next reply chunk is cut
	replyA atomic.Int32 // what to do with that reply chunk
}

const (
	cutBefore = 1
	cutAfter  = 2
	cutReply  = 3
	dropReply = 4 // the server ran the request (it answered); the answer is lost
)

func (c *cutter) filter(connID int, dir faultproxy.Direction, chunk []byte) faultproxy.Action {
	if dir == faultproxy.ServerToClient {
		if c.replyN.CompareAndSwap(int32(connID), 0) {
			return faultproxy.Action(c.replyA.Load())
		}
		return faultproxy.Forward
	}
	if len(chunk) == 0 || (chunk[0] != 'Q' && chunk[0] != 'B') || bytes.Contains(chunk, []byte("-- ping")) {
		return faultproxy.Forward
	}
	switch c.armed.Swap(0) {
	case cutBefore:
		return faultproxy.CutBefore
	case cutAfter:
		return faultproxy.CutAfter
	case cutReply:
		c.replyA.Store(int32(faultproxy.CutMiddle))
		c.replyN.Store(int32(connID))
	case dropReply:
		c.replyA.Store(int32(faultproxy.CutBefore))
		c.replyN.Store(int32(connID))
	}
	return faultproxy.Forward
}

type cutEnv struct {
	node  *pgtest.Node
	proxy *faultproxy.Proxy
	cut   *cutter
	db    *sql.DB
	table string
}

func newCutEnv(t *testing.T, driverName string) *cutEnv {
	t.Helper()
	node := pgtest.Shared(t).Primary()
	p, err := faultproxy.New(fmt.Sprintf("%s:%d", node.Host, node.Port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c := &cutter{}
	p.SetFilter(c.filter)
	dsn := node.DSN("host", p.Host(), "port", fmt.Sprint(p.Port()))
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	table := fmt.Sprintf("cut_%d", time.Now().UnixNano())
	ctx := context.Background()
	if err := node.Exec(ctx, fmt.Sprintf(`create table %s (id int primary key, n int not null)`, table)); err != nil {
		t.Fatal(err)
	}
	if err := node.Exec(ctx, fmt.Sprintf(`insert into %s values (1, 0)`, table)); err != nil {
		t.Fatal(err)
	}
	return &cutEnv{node: node, proxy: p, cut: c, db: db, table: table}
}

func (e *cutEnv) count(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.node.QueryRow(context.Background(), fmt.Sprintf(`select n from %s where id = 1`, e.table)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNoDuplicateOnCut cuts the connection at each point of each path and checks that a
// request that may have reached the server is never run again, and that one known not to
// have reached it is retried transparently and applied once.
func TestNoDuplicateOnCut(t *testing.T) { forEachChain(t, testNoDuplicateOnCut) }

func testNoDuplicateOnCut(t *testing.T, ch chain) {
	type path struct {
		name string
		run  func(ctx context.Context, e *cutEnv) error
		// write reports paths whose request applies the increment.
		write bool
	}
	incr := func(e *cutEnv) string { return fmt.Sprintf(`update %s set n = n + 1 where id = 1`, e.table) }
	paths := []path{
		{"exec", func(ctx context.Context, e *cutEnv) error { _, err := e.db.ExecContext(ctx, incr(e)); return err }, true},
		{"exec args", func(ctx context.Context, e *cutEnv) error {
			_, err := e.db.ExecContext(ctx, incr(e)+` and $1::int = 1`, 1)
			return err
		}, true},
		{"query", func(ctx context.Context, e *cutEnv) error {
			var n int
			return e.db.QueryRowContext(ctx, incr(e)+` returning n`).Scan(&n)
		}, true},
		{"query args", func(ctx context.Context, e *cutEnv) error {
			var n int
			return e.db.QueryRowContext(ctx, incr(e)+` and $1::int = 1 returning n`, 1).Scan(&n)
		}, true},
		{"prepared exec", func(ctx context.Context, e *cutEnv) error {
			st, err := e.db.PrepareContext(ctx, incr(e)+` and $1::int = 1`)
			if err != nil {
				return err
			}
			defer st.Close()
			_, err = st.ExecContext(ctx, 1)
			return err
		}, true},
		{"prepared query", func(ctx context.Context, e *cutEnv) error {
			st, err := e.db.PrepareContext(ctx, incr(e)+` and $1::int = 1 returning n`)
			if err != nil {
				return err
			}
			defer st.Close()
			var n int
			return st.QueryRowContext(ctx, 1).Scan(&n)
		}, true},
	}
	cuts := []struct {
		name string
		arm  int32
		idle bool // cut while idle, before the operation starts
	}{
		{"idle reset", 0, true},
		{"request swallowed", cutBefore, false},
		{"after request", cutAfter, false},
		{"mid reply", cutReply, false},
		{"reply lost", dropReply, false},
	}
	for _, p := range paths {
		for _, c := range cuts {
			t.Run(p.name+"/"+c.name, func(t *testing.T) {
				e := newCutEnv(t, ch.driver)
				ctx := ctxT(t)
				if err := e.db.PingContext(ctx); err != nil { // open the pooled connection
					t.Fatal(err)
				}
				if c.idle {
					e.proxy.ResetAll()
				}
				e.cut.armed.Store(c.arm)
				err := p.run(ctx, e)
				applied := e.count(t)
				switch {
				case c.idle:
					// Nothing reached the server: database/sql retried on a new connection.
					if err != nil || applied != 1 {
						t.Fatalf("idle cut: err=%v applied=%d, want success applied once", err, applied)
					}
				case err == nil:
					// The cut hit a round trip that could not apply the write (a prepare):
					// the driver may retry it, and the write must then be applied exactly once.
					if applied != 1 {
						t.Fatalf("success with applied=%d", applied)
					}
				case c.arm == dropReply && p.write && applied != 1:
					t.Fatalf("the server answered, so the write ran: applied=%d err=%v", applied, err)
				default:
					if applied > 1 {
						t.Fatalf("applied %d times", applied)
					}
					if errors.Is(err, driver.ErrBadConn) {
						t.Fatalf("bad connection surfaced: %v", err)
					}
					if applied == 1 && !errors.Is(err, pgerror.OutcomeUnknown) {
						t.Fatalf("applied but the error does not say the outcome is unknown: %v", err)
					}
					var ou *pgerror.OutcomeUnknownError
					if errors.As(err, &ou) && ou.Err == nil {
						t.Fatal("outcome unknown without its network error")
					}
				}
				t.Logf("err=%v applied=%d", err, applied)
			})
		}
	}

	// Operations with no durable effect are retried transparently after any cut.
	noEffect := []struct {
		name string
		run  func(ctx context.Context, e *cutEnv) error
	}{
		{"ping", func(ctx context.Context, e *cutEnv) error { return e.db.PingContext(ctx) }},
		{"begin", func(ctx context.Context, e *cutEnv) error {
			tx, err := e.db.BeginTx(ctx, nil)
			if err != nil {
				return fmt.Errorf("begin: %w", err)
			}
			if err := tx.Rollback(); err != nil {
				return fmt.Errorf("rollback after a successful begin: %w", err)
			}
			return nil
		}},
	}
	for _, p := range noEffect {
		for _, arm := range []int32{cutBefore, cutAfter, cutReply, dropReply} {
			t.Run(fmt.Sprintf("%s/cut%d", p.name, arm), func(t *testing.T) {
				e := newCutEnv(t, ch.driver)
				ctx := ctxT(t)
				if err := e.db.PingContext(ctx); err != nil {
					t.Fatal(err)
				}
				e.cut.armed.Store(arm)
				if err := p.run(ctx, e); err != nil {
					t.Fatalf("want a transparent retry, got %v (proxy %+v, pool %+v)", err, e.proxy.Stats(), e.db.Stats())
				}
			})
		}
	}

	// COMMIT: never re-run, and an unknown outcome says so.
	for _, arm := range []int32{cutBefore, cutAfter, cutReply, dropReply} {
		t.Run(fmt.Sprintf("commit/cut%d", arm), func(t *testing.T) {
			e := newCutEnv(t, ch.driver)
			ctx := ctxT(t)
			tx, err := e.db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, incr(e)); err != nil {
				t.Fatal(err)
			}
			e.cut.armed.Store(arm)
			err = tx.Commit()
			applied := e.count(t)
			if err == nil || !errors.Is(err, pgerror.OutcomeUnknown) || applied > 1 || (arm == dropReply && applied != 1) {
				t.Fatalf("commit: err=%v applied=%d", err, applied)
			}
			t.Logf("err=%v applied=%d", err, applied)
		})
	}
	// ROLLBACK: nothing applied whatever happens.
	t.Run("rollback", func(t *testing.T) {
		e := newCutEnv(t, ch.driver)
		ctx := ctxT(t)
		tx, _ := e.db.BeginTx(ctx, nil)
		if _, err := tx.ExecContext(ctx, incr(e)); err != nil {
			t.Fatal(err)
		}
		e.cut.armed.Store(cutAfter)
		_ = tx.Rollback()
		if applied := e.count(t); applied != 0 {
			t.Fatalf("rollback applied %d", applied)
		}
		var n int
		if err := e.db.QueryRowContext(ctx, `select 1`).Scan(&n); err != nil {
			t.Fatalf("pool not usable after a cut rollback: %v", err)
		}
	})
}

// TestPgxStdlibDuplicates documents the bug pgprovider fixes: the same cut through raw pgx
// stdlib makes database/sql run the statement twice and report success.
func TestPgxStdlibDuplicates(t *testing.T) {
	run := func(driverName string) (error, int) {
		e := newCutEnv(t, driverName)
		ctx := ctxT(t)
		if err := e.db.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		e.cut.armed.Store(dropReply)
		_, err := e.db.ExecContext(ctx, fmt.Sprintf(`update %s set n = n + 1 where id = 1`, e.table))
		return err, e.count(t)
	}
	rawErr, rawApplied := run("pgx")
	ourErr, ourApplied := run("pgprovider")
	t.Logf("pgx stdlib: err=%v applied=%d; pgprovider: err=%v applied=%d", rawErr, rawApplied, ourErr, ourApplied)
	if ourApplied != 1 || !errors.Is(ourErr, pgerror.OutcomeUnknown) {
		t.Fatalf("pgprovider: err=%v applied=%d", ourErr, ourApplied)
	}
	if rawErr == nil && rawApplied != 2 {
		t.Logf("note: pgx stdlib did not duplicate this time (applied=%d)", rawApplied)
	}
}

// TestRowsLostMidIteration: the connection breaks while a result set is being read. The
// statement reached the server, so the application sees an outcome-unknown error in Rows.Err
// (database/sql closes the result set itself and drops the driver's Close error), and so does
// middleware that sees OpRowsEnd.
func TestRowsLostMidIteration(t *testing.T) { forEachChain(t, testRowsLostMidIteration) }

func testRowsLostMidIteration(t *testing.T, ch chain) {
	for _, withRowsEnd := range []bool{false, true} {
		t.Run(fmt.Sprintf("rowsEnd=%v", withRowsEnd), func(t *testing.T) {
			node := pgtest.Shared(t).Primary()
			p, err := faultproxy.New(fmt.Sprintf("%s:%d", node.Host, node.Port))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			var ended atomic.Value
			opts := append([]pgprovider.Option(nil), ch.opts...)
			if withRowsEnd {
				opts = append(opts, pgprovider.WithMiddleware(middleware.Wrappers{
					RowsEnd: func(next middleware.RowsEndFunc) middleware.RowsEndFunc {
						return func(ctx context.Context, e middleware.RowsEnd) error {
							ended.Store(fmt.Sprintf("rows=%d err=%v unknown=%v", e.Rows, e.Err, errors.Is(e.Err, pgerror.OutcomeUnknown)))
							return next(ctx, e)
						}
					},
				}))
			}
			db, err := pgprovider.Open(node.DSN("host", p.Host(), "port", fmt.Sprint(p.Port())), opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			ctx := context.Background()
			// About 10 MB: far more than the socket buffers hold, so most is still to come.
			rows, err := db.QueryContext(ctx, "SELECT g, repeat('x', 100) FROM generate_series(1, 100000) g")
			if err != nil {
				t.Fatal(err)
			}
			if !rows.Next() {
				t.Fatalf("no first row: %v", rows.Err())
			}
			p.ResetAll()
			n := 1
			for rows.Next() {
				n++
			}
			if rows.Err() == nil {
				t.Fatalf("all %d rows read across a reset connection", n)
			}
			if err := rows.Err(); !errors.Is(err, pgerror.OutcomeUnknown) {
				t.Fatalf("Rows.Err after a lost connection: %v, want pgerror.OutcomeUnknown", err)
			}
			rows.Close()
			if withRowsEnd {
				want := fmt.Sprintf("rows=%d", n)
				got, _ := ended.Load().(string)
				if !strings.HasPrefix(got, want+" ") || !strings.HasSuffix(got, "unknown=true") {
					t.Fatalf("OpRowsEnd saw %q, want %s and an outcome-unknown error", got, want)
				}
			}
			// The pool drops the broken connection: the next statement works.
			var one int
			if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
				t.Fatalf("after the loss: %v", err)
			}
		})
	}
}
