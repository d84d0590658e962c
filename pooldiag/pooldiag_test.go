package pooldiag_test

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pooldiag"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m, pgtest.Options{})
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// open returns a pool with a Monitor whose scanner never fires on its own (tests call Check).
func open(t *testing.T, opts ...pooldiag.Option) (*sql.DB, *pooldiag.Monitor, *syncBuf) {
	t.Helper()
	buf := &syncBuf{}
	opts = append([]pooldiag.Option{pooldiag.WithThreshold(time.Nanosecond), pooldiag.WithInterval(time.Hour),
		pooldiag.WithLogger(slog.New(slog.NewTextHandler(buf, nil)))}, opts...)
	mon := pooldiag.New(opts...)
	db, err := pgprovider.Open(pgtest.Shared(t).Primary().DSN(), pgprovider.WithMiddleware(mon))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		mon.Close() // idempotent: the Connector closed it already
	})
	return db, mon, buf
}

func leakTx(ctx context.Context, db *sql.DB) (*sql.Tx, error) { return db.BeginTx(ctx, nil) }

func leakRows(ctx context.Context, db *sql.DB) (*sql.Rows, error) {
	return db.QueryContext(ctx, "SELECT generate_series(1, 3)")
}

func TestLeaks(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		kind    string
		fn      string // the function the stack must name
		take    func(*sql.DB) (release func() error, err error)
		noStack bool
	}{
		{name: "transaction", kind: pooldiag.KindTx, fn: "pooldiag_test.leakTx", take: func(db *sql.DB) (func() error, error) {
			tx, err := leakTx(ctx, db)
			if err != nil {
				return nil, err
			}
			return tx.Rollback, nil
		}},
		{name: "rows", kind: pooldiag.KindRows, fn: "pooldiag_test.leakRows", take: func(db *sql.DB) (func() error, error) {
			rows, err := leakRows(ctx, db)
			if err != nil {
				return nil, err
			}
			return rows.Close, nil
		}},
		{name: "rows in a transaction", kind: pooldiag.KindRows, fn: "pooldiag_test.TestLeaks", take: func(db *sql.DB) (func() error, error) {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return nil, err
			}
			rows, err := tx.QueryContext(ctx, "SELECT 1")
			if err != nil {
				return nil, err
			}
			return func() error { rows.Close(); return tx.Commit() }, nil
		}},
		{name: "without stacks", kind: pooldiag.KindTx, noStack: true, take: func(db *sql.DB) (func() error, error) {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return nil, err
			}
			return tx.Rollback, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []pooldiag.Option
			if tt.noStack {
				opts = append(opts, pooldiag.WithoutStacks())
			}
			var cb []pooldiag.Leak
			opts = append(opts, pooldiag.WithOnLeak(func(l pooldiag.Leak) { cb = append(cb, l) }))
			db, mon, logs := open(t, opts...)
			release, err := tt.take(db)
			if err != nil {
				t.Fatal(err)
			}
			var leak *pooldiag.Leak
			for _, l := range mon.Check() {
				if l.Kind == tt.kind {
					leak = &l
				}
			}
			if leak == nil || leak.BackendPID == 0 || leak.Held <= 0 {
				t.Fatalf("no %s leak found: %+v", tt.kind, leak)
			}
			if tt.fn != "" && !strings.Contains(strings.SplitN(leak.Stack, "\n", 2)[0], tt.fn) {
				t.Fatalf("stack does not start at %s:\n%s", tt.fn, leak.Stack)
			}
			if tt.noStack && leak.Stack != "" {
				t.Fatalf("stack captured although disabled:\n%s", leak.Stack)
			}
			if again := mon.Check(); len(again) != 0 {
				t.Fatalf("leak reported twice: %+v", again)
			}
			if !strings.Contains(logs.String(), "connection held longer than the threshold") ||
				!strings.Contains(logs.String(), "kind="+tt.kind) {
				t.Fatalf("log:\n%s", logs)
			}
			if st := mon.Stats(); st.Leaks == 0 || st.Held == 0 || len(cb) != int(st.Leaks) {
				t.Fatalf("stats %+v, callbacks %d", st, len(cb))
			}
			if err := release(); err != nil {
				t.Fatal(err)
			}
			if held := mon.Held(0); len(held) != 0 {
				t.Fatalf("still held after release: %+v", held)
			}
		})
	}
}

func TestNoLeakWhenReleased(t *testing.T) {
	ctx := context.Background()
	db, mon, _ := open(t)
	for range 20 {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
			t.Fatal(err)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if leaks := mon.Check(); len(leaks) != 0 {
		t.Fatalf("leaks reported for released connections: %+v", leaks)
	}
	if st := mon.Stats(); st.Held != 0 || st.Leaks != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// releaseSupported reports whether the driver runs OpRelease from IsValid (the middleware
// package then has a Release operation).
func releaseSupported() bool {
	_, ok := reflect.TypeOf(middleware.Wrappers{}).FieldByName("Release")
	return ok
}

// TestCheckoutTracking leaks a *sql.Conn with nothing open on it. With OpRelease in the
// driver it is reported (kind conn, with the stack of the first statement on the new
// connection) and forgotten once closed; without, only transactions and result sets are
// tracked and nothing is reported.
func TestCheckoutTracking(t *testing.T) {
	ctx := context.Background()
	db, mon, _ := open(t)
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A new connection may be database/sql's idle stock: it counts once a statement runs.
	if leaks := mon.Check(); len(leaks) != 0 {
		t.Fatalf("unused new connection reported: %+v", leaks)
	}
	if err := useConn(ctx, conn); err != nil {
		t.Fatal(err)
	}
	leaks := mon.Check()
	if !releaseSupported() {
		if len(leaks) != 0 {
			t.Fatalf("leaks without OpRelease: %+v", leaks)
		}
		return
	}
	if len(leaks) != 1 || leaks[0].Kind != pooldiag.KindConn || !strings.Contains(leaks[0].Stack, "pooldiag_test.useConn") {
		t.Fatalf("leaks = %+v, want one conn taken in useConn", leaks)
	}
	if held := mon.Held(time.Hour); len(held) != 0 {
		t.Fatalf("Held(1h) = %+v", held)
	}
	conn.Close()
	if held := mon.Held(0); len(held) != 0 {
		t.Fatalf("held after Close: %+v", held)
	}
	// The next checkout of the pooled connection goes through ResetSession, on the caller's
	// goroutine, and counts at once.
	conn2, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	held := mon.Held(0)
	if len(held) != 1 || held[0].SessionID != leaks[0].SessionID || !strings.Contains(held[0].Stack, "TestCheckoutTracking") {
		t.Fatalf("held after the second checkout: %+v", held)
	}
	conn2.Close()
	if held := mon.Held(0); len(held) != 0 {
		t.Fatalf("held after the second Close: %+v", held)
	}
}

type fakeSession struct {
	id   uint64
	inTx bool
}

func (f fakeSession) ID() uint64                      { return f.id }
func (f fakeSession) InTx() bool                      { return f.inTx }
func (f fakeSession) Pinned() bool                    { return false }
func (f fakeSession) Backend() middleware.BackendInfo { return middleware.BackendInfo{PID: 7} }
func (f fakeSession) TxValue(any) any                 { return nil }

// TestBadConnForgets drives the Monitor's wrappers directly: a session whose operation
// returned driver.ErrBadConn is about to be closed by database/sql and is forgotten, unless a
// transaction keeps it.
func TestBadConnForgets(t *testing.T) {
	ctx := context.Background()
	okCall := func(context.Context, middleware.Call) error { return nil }
	badCall := func(context.Context, middleware.Call) error { return driver.ErrBadConn }
	tests := []struct {
		name string
		inTx bool
		fail func(m *pooldiag.Monitor, s middleware.Session) error
		held int
	}{
		{"exec", false, func(m *pooldiag.Monitor, s middleware.Session) error {
			_, err := m.Wrappers(nil).Exec(func(context.Context, middleware.Statement) (driver.Result, error) { return nil, driver.ErrBadConn })(ctx, middleware.Statement{Session: s})
			return err
		}, 0},
		{"query", false, func(m *pooldiag.Monitor, s middleware.Session) error {
			_, err := m.Wrappers(nil).Query(func(context.Context, middleware.Statement) (driver.Rows, error) { return nil, driver.ErrBadConn })(ctx, middleware.Statement{Session: s})
			return err
		}, 0},
		{"prepare", false, func(m *pooldiag.Monitor, s middleware.Session) error {
			_, err := m.Wrappers(nil).Prepare(func(context.Context, middleware.Statement) (driver.Stmt, error) { return nil, driver.ErrBadConn })(ctx, middleware.Statement{Session: s})
			return err
		}, 0},
		{"ping", false, func(m *pooldiag.Monitor, s middleware.Session) error {
			return m.Wrappers(nil).Ping(badCall)(ctx, middleware.Call{Session: s})
		}, 0},
		{"reset", false, func(m *pooldiag.Monitor, s middleware.Session) error {
			return m.Wrappers(nil).ResetSession(badCall)(ctx, middleware.Call{Session: s})
		}, 0},
		{"exec in a transaction", true, func(m *pooldiag.Monitor, s middleware.Session) error {
			_, err := m.Wrappers(nil).Exec(func(context.Context, middleware.Statement) (driver.Result, error) { return nil, driver.ErrBadConn })(ctx, middleware.Statement{Session: s})
			return err
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mon := pooldiag.New(pooldiag.WithInterval(time.Hour))
			defer mon.Close()
			release := mon.Wrappers(nil).Release(okCall) // as a chain with OpRelease does
			s := fakeSession{id: 1, inTx: tt.inTx}
			if err := mon.Wrappers(nil).ResetSession(okCall)(ctx, middleware.Call{Session: s}); err != nil {
				t.Fatal(err)
			}
			if tt.inTx {
				if err := mon.Wrappers(nil).Begin(func(context.Context, middleware.Begin) error { return nil })(ctx, middleware.Begin{Session: s}); err != nil {
					t.Fatal(err)
				}
			}
			if err := tt.fail(mon, s); !errors.Is(err, driver.ErrBadConn) {
				t.Fatalf("err = %v", err)
			}
			if held := mon.Held(0); len(held) != tt.held {
				t.Fatalf("held = %+v, want %d", held, tt.held)
			}
			if err := release(ctx, middleware.Call{Session: s}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func useConn(ctx context.Context, c *sql.Conn) error {
	_, err := c.ExecContext(ctx, "SELECT 1")
	return err
}

func TestStackDepth(t *testing.T) {
	db, mon, _ := open(t, pooldiag.WithStackDepth(2))
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	leaks := mon.Check()
	// Two frames from the Begin wrapper's caller are all inside database/sql.
	if len(leaks) != 1 || leaks[0].Stack != "" {
		t.Fatalf("leaks %+v", leaks)
	}
}

func TestRecoveryCancelled(t *testing.T) {
	db, _, _ := open(t)
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := pooldiag.MeasureRecovery(ctx, db, 5); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestScannerReportsAndExhaustion(t *testing.T) {
	ctx := context.Background()
	buf := &syncBuf{}
	found := make(chan pooldiag.Leak, 1)
	mon := pooldiag.New(pooldiag.WithThreshold(20*time.Millisecond),
		pooldiag.WithLogger(slog.New(slog.NewTextHandler(buf, nil))),
		pooldiag.WithOnLeak(func(l pooldiag.Leak) { found <- l }))
	db, err := pgprovider.Open(pgtest.Shared(t).Primary().DSN(), pgprovider.WithMiddleware(mon))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	mon.WatchPool(db)

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-found:
		if l.Kind != pooldiag.KindTx || l.Held < 20*time.Millisecond {
			t.Fatalf("leak %+v", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the scanner reported no leak")
	}
	// A second request waits for the only connection until its deadline.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	_, err = db.ExecContext(wctx, "SELECT 1")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiter: %v", err)
	}
	mon.Check()
	if st := mon.Stats(); st.Exhaustions == 0 || st.Pool.WaitCount == 0 {
		t.Fatalf("exhaustion not seen: %+v", st)
	}
	if !strings.Contains(buf.String(), "connection pool exhausted") {
		t.Fatalf("log:\n%s", buf)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
}

// TestRecovery measures the seed roadmap's "pool exhaustion recovery under 100 ms": with
// MaxOpenConns=1 held by one goroutine and a waiter blocked, how long the waiter takes to
// proceed once the connection is released.
func TestRecovery(t *testing.T) {
	db, _, _ := open(t)
	if _, err := pooldiag.MeasureRecovery(context.Background(), db, 1); !errors.Is(err, pooldiag.ErrNotExhaustible) {
		t.Fatalf("unlimited pool: %v", err)
	}
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := pooldiag.MeasureRecovery(ctx, db, 200)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pool exhaustion recovery over %d trials: acquire p50 %v p99 %v max %v; first query done p50 %v p99 %v max %v",
		r.Trials, r.AcquireP50, r.AcquireP99, r.AcquireMax, r.QueryP50, r.QueryP99, r.QueryMax)
	if r.Trials != 200 || r.AcquireP99 >= 100*time.Millisecond || r.QueryP99 >= 100*time.Millisecond {
		t.Fatalf("recovery %+v, want p99 under 100ms", r)
	}
}
