package replica

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/faultproxy"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
)

// S1: writes all on the primary; replica reads shared evenly by round robin; prepared
// statements and Exec follow the same intent; served-by is visible.
func TestRoutingS1(t *testing.T) {
	leakCheck(t)
	c, db, r := sharedDB(t)
	ctx := ctxT(t, 30*time.Second)
	if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS s1 (id serial PRIMARY KEY, port int)"); err != nil {
		t.Fatal(err)
	}
	p0, p1, p2 := c.Nodes[0].Port, c.Nodes[1].Port, c.Nodes[2].Port
	stmt, err := db.PrepareContext(ctx, "SELECT inet_server_port()")
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	counts := map[int]int{}
	var served string
	rctx := WithServedBy(UseReplica(ctx), &served)
	const reads = 400
	for i := 0; i < reads; i++ {
		var p int
		if i%2 == 0 {
			p, err = port(rctx, db)
		} else {
			err = stmt.QueryRowContext(rctx).Scan(&p)
		}
		if err != nil {
			t.Fatal(err)
		}
		if want := map[int]string{p1: name(c.Nodes[1]), p2: name(c.Nodes[2])}[p]; want != served {
			t.Fatalf("read on port %d reported served by %q", p, served)
		}
		counts[p]++
		if i%10 == 0 { // a write through Query (RETURNING) and one through Exec, both unmarked
			var wp int
			if err := db.QueryRowContext(ctx, "INSERT INTO s1 (port) VALUES (inet_server_port()) RETURNING port").Scan(&wp); err != nil {
				t.Fatal(err)
			}
			if wp != p0 {
				t.Fatalf("write ran on port %d, primary is %d", wp, p0)
			}
			if _, err := db.ExecContext(ctx, "INSERT INTO s1 (port) VALUES (inet_server_port())"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if counts[p0] != 0 {
		t.Fatalf("%d replica reads ran on the primary", counts[p0])
	}
	for _, p := range []int{p1, p2} {
		if share := float64(counts[p]) / reads; share < 0.4 || share > 0.6 {
			t.Fatalf("replica %d served %.0f%% of reads: %v", p, 100*share, counts)
		}
	}
	var bad int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM s1 WHERE port <> $1", p0).Scan(&bad); err != nil || bad != 0 {
		t.Fatalf("%d writes off the primary (%v)", bad, err)
	}
	// Exec with the replica intent runs on a replica; UsePrimary overrides it.
	if _, err := db.ExecContext(rctx, "SELECT 1"); err != nil || served == name(c.Nodes[0]) {
		t.Fatalf("replica exec served by %q: %v", served, err)
	}
	if p, err := port(WithServedBy(UsePrimary(rctx), &served), db); err != nil || p != p0 || served != name(c.Nodes[0]) {
		t.Fatalf("UsePrimary read on %d (%q): %v", p, served, err)
	}
	// S11: a transaction runs on one backend. Read-write, serializable, or read-only without
	// UseReplica: on the primary. Read-only with UseReplica: on one replica for its whole life.
	cases := []struct {
		name    string
		ctx     context.Context
		opts    *sql.TxOptions
		replica bool
	}{
		{"read-write with UseReplica", rctx, nil, false},
		{"read-only without UseReplica", ctx, &sql.TxOptions{ReadOnly: true}, false},
		{"read-only serializable", rctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelSerializable}, false},
		{"read-only with UseReplica", rctx, &sql.TxOptions{ReadOnly: true}, true},
	}
	for _, tc := range cases {
		tx, err := db.BeginTx(tc.ctx, tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var pid0, p0tx int
		for i := 0; i < 3; i++ {
			var p, pid int
			if err := tx.QueryRowContext(tc.ctx, "SELECT inet_server_port(), pg_backend_pid()").Scan(&p, &pid); err != nil || (i > 0 && (pid != pid0 || p != p0tx)) {
				t.Fatalf("%s: read %d on %d, backend %d then %d: %v", tc.name, i, p, pid0, pid, err)
			}
			pid0, p0tx = pid, p
		}
		if onReplica := p0tx != p0; onReplica != tc.replica || (tc.replica && p0tx != p1 && p0tx != p2) {
			t.Fatalf("%s: ran on port %d (primary %d)", tc.name, p0tx, p0)
		}
		if tc.replica {
			st, err := tx.PrepareContext(tc.ctx, "SELECT inet_server_port()")
			if err != nil {
				t.Fatal(err)
			}
			var sp int
			if err := st.QueryRowContext(tc.ctx).Scan(&sp); err != nil || sp != p0tx {
				t.Fatalf("prepared in the replica transaction: port %d, %v", sp, err)
			}
			if _, err := tx.ExecContext(tc.ctx, "CREATE TEMP TABLE nope (a int)"); err == nil {
				t.Fatal("a write inside a read-only replica transaction succeeded")
			}
		}
		if err := tx.Rollback(); err != nil {
			t.Fatalf("%s: rollback: %v", tc.name, err)
		}
	}
	var inFlight int64
	for _, n := range r.Stats() {
		inFlight += int64(n.InFlight)
	}
	if inFlight != 0 {
		t.Fatalf("borrowed replica connections not returned: in flight %d", inFlight)
	}
	st := r.Stats()
	if len(st) != 3 || !st[2].Primary || st[0].Role != RoleStandby || st[0].Served == 0 || st[0].Probes == 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// Every policy spreads serial reads over the replicas and never uses the primary.
func TestPolicies(t *testing.T) {
	leakCheck(t)
	c := pgtest.Shared(t)
	for _, p := range []Policy{RoundRobin, LeastInFlight, LowestLag} {
		t.Run(p.String(), func(t *testing.T) {
			db, _ := open(t, c.Nodes[0].DSN(), []string{c.Nodes[1].DSN(), c.Nodes[2].DSN()},
				WithPolicy(p), WithHysteresis(3, 1), WithMaxReadAttempts(2), WithConnectorOptions(pgprovider.WithConnConfig(func(*pgx.ConnConfig) {})))
			ctx := UseReplica(ctxT(t, 10*time.Second))
			seen := map[int]int{}
			for i := 0; i < 20; i++ {
				port, err := port(ctx, db)
				if err != nil {
					t.Fatal(err)
				}
				seen[port]++
			}
			if seen[c.Nodes[0].Port] != 0 || len(seen) != 2 {
				t.Fatalf("%s: reads per port %v", p, seen)
			}
		})
	}
	if _, err := New(nil, WithConnectorOptions(pgprovider.WithMiddleware(middleware.Wrappers{}))); err == nil {
		t.Fatal("middleware in the replica connectors was accepted")
	}
	if _, err := New([]string{"host=127.0.0.1 port=notaport"}); err == nil {
		t.Fatal("a bad replica DSN was accepted")
	}
}

// The declared session state (a tenant) is applied on the borrowed replica connection, and
// the replica pool reuses its connections.
func TestReplicaState(t *testing.T) {
	leakCheck(t)
	c := pgtest.Shared(t)
	declare := middleware.Wrappers{Rank: middleware.RankTenancy, Query: func(next middleware.QueryFunc) middleware.QueryFunc {
		return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
			if v, ok := ctx.Value(tenantKey{}).(string); ok {
				s.State = s.State.With("app.tenant_id", v)
			}
			return next(ctx, s)
		}
	}}
	db, r := openMW(t, []middleware.Middleware{declare}, c.Nodes[0].DSN(), []string{c.Nodes[1].DSN()}, WithPoolSize(2, 2))
	ctx := ctxT(t, 10*time.Second)
	for i, tenant := range []string{"a", "b", "a", "c"} {
		tctx := UseReplica(context.WithValue(ctx, tenantKey{}, tenant))
		var got string
		var p int
		if err := db.QueryRowContext(tctx, "SELECT current_setting('app.tenant_id'), inet_server_port()").Scan(&got, &p); err != nil {
			t.Fatal(err)
		}
		if got != tenant || p != c.Nodes[1].Port {
			t.Fatalf("read %d: tenant %q on port %d, want %q on %d", i, got, p, tenant, c.Nodes[1].Port)
		}
	}
	if st := stat(r, name(c.Nodes[1])); st.OpenConns != 1 || st.InFlight != 0 {
		t.Fatalf("replica pool: %+v", st)
	}
}

type tenantKey struct{}

// S9: every replica unreachable: reads fall back to the primary, or fail with ErrNoReplica.
func TestAllReplicasDownS9(t *testing.T) {
	leakCheck(t)
	c := pgtest.Shared(t)
	var proxies []*faultproxy.Proxy
	var dsns []string
	for _, n := range c.Nodes[1:] {
		p, err := faultproxy.New(name(n))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		proxies = append(proxies, p)
		dsns = append(dsns, n.DSN("port", strconv.Itoa(p.Port())))
	}
	for _, fallback := range []bool{true, false} {
		t.Run(map[bool]string{true: "fallback", false: "no_fallback"}[fallback], func(t *testing.T) {
			for _, p := range proxies {
				p.SetMode(faultproxy.Pass)
			}
			var opts []Option
			if !fallback {
				opts = append(opts, WithoutFallback())
			}
			db, r := open(t, c.Nodes[0].DSN(), dsns, opts...)
			ctx := ctxT(t, 20*time.Second)
			rctx := UseReplica(ctx)
			if p, err := port(rctx, db); err != nil || p == c.Nodes[0].Port {
				t.Fatalf("read with replicas up on %d: %v", p, err)
			}
			for _, p := range proxies {
				p.SetMode(faultproxy.Refuse)
				p.ResetAll()
			}
			// Reads keep working at once (retried elsewhere) and the replicas go down.
			var mu sync.Mutex
			var errs []error
			d := waitFor(t, 5*time.Second, "replicas down", func() bool {
				p, err := port(rctx, db)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case fallback && (err != nil || p != c.Nodes[0].Port):
					errs = append(errs, err)
				case !fallback && err != nil && !errors.Is(err, ErrNoReplica):
					errs = append(errs, err)
				}
				st := r.Stats()
				return !st[0].Healthy && !st[1].Healthy
			})
			t.Logf("both replicas down after %v", d)
			if len(errs) > 0 && fallback {
				t.Fatalf("reads failed or left the primary while replicas went down: %v", errs)
			}
			p, err := port(rctx, db)
			if fallback && (err != nil || p != c.Nodes[0].Port) {
				t.Fatalf("fallback read on %d: %v", p, err)
			}
			if !fallback && !errors.Is(err, ErrNoReplica) {
				t.Fatalf("read without fallback: %v, want ErrNoReplica", err)
			}
			for _, p := range proxies {
				p.SetMode(faultproxy.Pass)
			}
			waitFor(t, 5*time.Second, "replicas back", func() bool {
				st := r.Stats()
				return st[0].Healthy && st[1].Healthy
			})
			if p, err := port(rctx, db); err != nil || p == c.Nodes[0].Port {
				t.Fatalf("read after the replicas came back on %d: %v", p, err)
			}
		})
	}
}

// S12: a session whose user changed session state (SET, temporary table) keeps its reads on
// its own primary backend, where that state lives, even when they ask for a replica.
func TestPinnedSessionS12(t *testing.T) {
	leakCheck(t)
	c, db, _ := sharedDB(t)
	ctx := ctxT(t, 10*time.Second)
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var port int
	// Before any state change, a replica read leaves the primary.
	if err := conn.QueryRowContext(UseReplica(ctx), "SELECT inet_server_port()").Scan(&port); err != nil {
		t.Fatal(err)
	}
	if port == c.Nodes[0].Port {
		t.Fatalf("an unpinned replica read ran on the primary")
	}
	if _, err := conn.ExecContext(ctx, "SET app.s12 = 'kept'"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "CREATE TEMP TABLE s12 (v int)"); err != nil {
		t.Fatal(err)
	}
	var v string
	var n int
	if err := conn.QueryRowContext(UseReplica(ctx), "SELECT current_setting('app.s12', true), inet_server_port(), (SELECT count(*) FROM s12)").Scan(&v, &port, &n); err != nil {
		t.Fatal(err)
	}
	if v != "kept" || port != c.Nodes[0].Port {
		t.Fatalf("pinned session read: setting %q on port %d, want %q on the primary %d", v, port, "kept", c.Nodes[0].Port)
	}
}

// S14: a replica read cancelled by a recovery conflict runs again on another node. The read
// holds a snapshot that still sees the rows of s14 while the primary deletes them and
// VACUUM removes them; replaying the cleanup, the standby cancels the read after
// max_standby_streaming_delay (1 s here, hot_standby_feedback off so the primary does not
// keep the rows for it) with 40001. The error comes before the first row (pgx stdlib reads
// it ahead), so the Router sees it and tries another node, whose new snapshot sees no row:
// the read succeeds there without waiting. The conflict is checked in the first standby's
// pg_stat_database_conflicts; the node that served the read, in WithServedBy and Stats.
func TestRecoveryConflictS14(t *testing.T) {
	leakCheck(t)
	c, db, r := sharedDB(t)
	ctx := ctxT(t, 40*time.Second)
	p0 := c.Nodes[0]
	// Both standbys cancel after 1 s, so the read conflicts on whichever it tries first.
	conf := map[string]string{"max_standby_streaming_delay": "1s", "hot_standby_feedback": "off"}
	for _, n := range c.Nodes[1:] {
		if err := n.SetConfig(ctx, conf); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := n.SetConfig(ctx, map[string]string{"max_standby_streaming_delay": "", "hot_standby_feedback": ""}); err != nil {
				t.Error(err)
			}
		})
	}
	for _, q := range []string{
		"DROP TABLE IF EXISTS s14",
		"CREATE TABLE s14 (id int, pad text) WITH (autovacuum_enabled = off)",
		"INSERT INTO s14 SELECT g, repeat('x', 100) FROM generate_series(1, 1000) g",
	} {
		if err := p0.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c.Nodes[1:] {
		if err := n.WaitCaughtUp(ctx, p0); err != nil {
			t.Fatal(err)
		}
	}
	const conflictsSQL = "SELECT confl_snapshot FROM pg_stat_database_conflicts WHERE datname = current_database()"
	conflicts := func(n *pgtest.Node) int64 {
		var v int64
		if err := n.QueryRow(ctx, conflictsSQL).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := map[*pgtest.Node]int64{}
	for _, n := range c.Nodes[1:] {
		before[n] = conflicts(n)
	}
	type result struct {
		rows, port int
		served     string
		err        error
		at         time.Time
	}
	done := make(chan result, 1)
	go func() {
		var res result
		rctx := WithServedBy(UseReplica(ctx), &res.served)
		// The row comes after the sleep, so the cancellation reaches the caller as the query's
		// error, not in the middle of a result set.
		res.err = db.QueryRowContext(rctx, `SELECT /* s14 read */ n, inet_server_port()
			FROM (SELECT count(*) AS n FROM s14) c, pg_sleep(CASE WHEN n > 0 THEN 10 ELSE 0 END)`).Scan(&res.rows, &res.port)
		res.at = time.Now()
		done <- res
	}()
	// The first attempt has its snapshot once it sleeps.
	var first *pgtest.Node
	waitFor(t, 10*time.Second, "the read sleeping on a standby", func() bool {
		for _, n := range c.Nodes[1:] {
			var k int
			if err := n.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE '%s14 read%'").Scan(&k); err != nil {
				t.Fatal(err)
			}
			if k > 0 {
				first = n
				return true
			}
		}
		return false
	})
	vacuum := time.Now()
	for _, q := range []string{"DELETE FROM s14", "VACUUM (TRUNCATE false) s14"} { // no truncation: a snapshot conflict, not a lock conflict
		if err := p0.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		t.Fatal("the read did not end")
	}
	if res.err != nil {
		t.Fatalf("read cancelled by a recovery conflict on %s was not retried: %v", first.Name, res.err)
	}
	if res.rows != 0 || res.port == first.Port || res.served == name(first) || res.served != hostPort("127.0.0.1", uint16(res.port)) {
		t.Fatalf("read returned %d rows on port %d (served by %q); the first attempt ran on %s", res.rows, res.port, res.served, name(first))
	}
	d := waitFor(t, 5*time.Second, "the conflict counted on "+first.Name, func() bool { return conflicts(first) > before[first] })
	st := stat(r, name(first))
	if st.Suspect || !st.Healthy {
		t.Fatalf("a recovery conflict opened the breaker of %s: %+v", first.Name, st)
	}
	servedBy := res.served
	for _, n := range c.Nodes {
		if name(n) == res.served {
			servedBy = n.Name
		}
	}
	t.Logf("read on %s cancelled by a snapshot conflict, retried on %s; VACUUM → read done %v (max_standby_streaming_delay 1s); conflict counted %v later",
		first.Name, servedBy, res.at.Sub(vacuum).Round(time.Millisecond), d.Round(time.Millisecond))
}

// Which replica read errors run again on another node: connection and node failures and
// recovery conflicts, never an error of the statement itself or the caller's context.
func TestReadRetryable(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code}) }
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"recovery conflict: snapshot, lock, tablespace", pg("40001"), true},
		{"recovery conflict: buffer pin deadlock", pg("40P01"), true},
		{"standby shutting down", pg("57P01"), true},
		{"standby starting up", pg("57P03"), true},
		{"connection failure", pg("08006"), true},
		{"too many connections", pg("53300"), true},
		{"bad connection", driver.ErrBadConn, true},
		{"outcome unknown", &pgerror.OutcomeUnknownError{Err: io.ErrUnexpectedEOF}, true},
		{"network", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		{"undefined table", pg("42P01"), false},
		{"syntax error", pg("42601"), false},
		{"read-only transaction", pg("25006"), false},
		{"query cancelled by the caller", pg("57014"), false},
		{"context cancelled", context.Canceled, false},
		{"context deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{"no rows", sql.ErrNoRows, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := readRetryable(tc.err); got != tc.want {
				t.Fatalf("readRetryable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
