package replica

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/faultproxy"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/pgerror"
)

// With no primary reachable, writes wait the primary wait and fail with ErrNoPrimary, having
// sent nothing; once the primary is back they go through the same *sql.DB.
func TestNoPrimary(t *testing.T) {
	leakCheck(t)
	c := pgtest.Shared(t)
	px, err := faultproxy.New(name(c.Nodes[0]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	const wait = 300 * time.Millisecond
	db, r := open(t, c.Nodes[0].DSN("port", strconv.Itoa(px.Port())), []string{c.Nodes[1].DSN()}, WithPrimaryWait(wait))
	ctx := ctxT(t, 20*time.Second)
	if _, err := db.ExecContext(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	px.SetMode(faultproxy.Refuse)
	px.ResetAll()
	waitFor(t, 5*time.Second, "primary down", func() bool { _, ok := r.Primary(); return !ok })
	for _, tc := range []struct {
		name string
		run  func() error
	}{
		{"exec", func() error { _, err := db.ExecContext(ctx, "SELECT 1"); return err }},
		{"query", func() error { _, err := port(ctx, db); return err }},
		{"begin", func() error {
			tx, err := db.BeginTx(ctx, nil)
			if err == nil {
				tx.Rollback()
			}
			return err
		}},
	} {
		start := time.Now()
		err := tc.run()
		if !errors.Is(err, ErrNoPrimary) || time.Since(start) < wait {
			t.Fatalf("%s without a primary: %v after %v, want ErrNoPrimary after %v", tc.name, err, time.Since(start), wait)
		}
	}
	px.SetMode(faultproxy.Pass)
	waitFor(t, 5*time.Second, "primary back", func() bool { _, ok := r.Primary(); return ok })
	if p, err := port(ctx, db); err != nil || p != c.Nodes[0].Port {
		t.Fatalf("write after the primary came back on %d: %v", p, err)
	}
}

// When the monitor knows no primary (here: the primary DSN it was given names a standby, as
// in a split brain on one timeline), writes fail closed with ErrNoPrimary after the wait,
// having sent nothing, while replica reads go on.
func TestWritesFailClosed(t *testing.T) {
	leakCheck(t)
	c := pgtest.Shared(t)
	r, err := New([]string{c.Nodes[1].DSN()}, append(fast, WithPrimary(c.Nodes[2].DSN()), WithPrimaryWait(200*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	ctr, err := pgprovider.NewConnector(c.Nodes[0].DSN(), pgprovider.WithMiddleware(r))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(ctr)
	defer db.Close()
	ctx := ctxT(t, 10*time.Second)
	if p, err := port(UseReplica(ctx), db); err != nil || p == c.Nodes[0].Port { // any standby of the node set serves reads
		t.Fatalf("replica read on %d: %v", p, err)
	}
	tok := WithSession(ctx)
	for _, run := range []func() error{
		func() error { _, err := db.ExecContext(tok, "CREATE TABLE never (id int)"); return err },
		func() error { _, err := db.BeginTx(tok, nil); return err },
	} {
		if err := run(); !errors.Is(err, ErrNoPrimary) {
			t.Fatalf("write without a primary: %v, want ErrNoPrimary", err)
		}
	}
	if tokenFrom(tok).pending.Load() != 0 || !tokenFrom(tok).lastWriteTime().IsZero() {
		t.Fatal("a write that was never sent was recorded on the token")
	}
	var exists bool
	if err := c.Nodes[0].QueryRow(ctx, "SELECT to_regclass('never') IS NOT NULL").Scan(&exists); err != nil || exists {
		t.Fatalf("the refused write ran: %v %v", exists, err)
	}
}

// A session whose backend answers 25006 (it is on a standby: a demoted primary) is evicted
// when database/sql reuses it, and the error is never retried.
func TestDemotedSessionEvicted(t *testing.T) {
	leakCheck(t)
	c := pgtest.Shared(t)
	// The "primary" DSN of this DB points at a standby, as after a demotion.
	db, _ := open(t, c.Nodes[1].DSN(), []string{c.Nodes[2].DSN()}, WithPrimary(c.Nodes[0].DSN()))
	db.SetMaxOpenConns(1)
	ctx := ctxT(t, 10*time.Second)
	pid := func() int {
		var p int
		if err := db.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	before := pid()
	if pid() != before {
		t.Fatal("the session changed backend without a reason")
	}
	_, err := db.ExecContext(ctx, "CREATE TEMP SEQUENCE s25006")
	if pgerror.Classify(err) != pgerror.ReadOnly {
		t.Fatalf("write on a standby: %v, want 25006", err)
	}
	if after := pid(); after == before {
		t.Fatal("the session that answered 25006 was reused")
	}
}

// S15: the primary refuses new connections while its existing ones stay up (a faultproxy in
// Refuse mode resets every new TCP connection right after accepting it and leaves the live
// ones alone, as a primary at max_connections or a listener gone bad would).
//
// The policy: work on existing connections is not disturbed: a write in flight when the
// refusals start finishes, and an idle session keeps writing. The monitor probes over its
// own long-lived connection, so it keeps the primary as known. A write that needs a new
// connection has that connection attempt retried (every probe interval / 4) for the primary
// wait, then fails with ErrNoPrimary joined with the last connect error
// (*pgconn.ConnectError): nothing was sent, and database/sql does not retry it, so the
// caller waits the primary wait once. When the refusals stop, new connections work again
// through the same *sql.DB.
func TestPrimaryRefusesNewConnectionsS15(t *testing.T) {
	leakCheck(t)
	c := pgtest.Shared(t)
	p0 := c.Nodes[0]
	px, err := faultproxy.New(name(p0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	const wait = 500 * time.Millisecond
	db, r := open(t, p0.DSN("port", strconv.Itoa(px.Port())), []string{c.Nodes[1].DSN()}, WithPrimaryWait(wait))
	ctx := ctxT(t, 30*time.Second)
	for _, q := range []string{"DROP TABLE IF EXISTS s15", "CREATE TABLE s15 (id int)"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// Two sessions before the refusals: busy writes behind an advisory lock the test holds
	// over a direct connection, idle waits.
	lock, err := p0.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close(context.Background()) })
	if _, err := lock.Exec(ctx, "SELECT pg_advisory_lock(15)"); err != nil {
		t.Fatal(err)
	}
	busy, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	idle, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	inFlight := make(chan error, 1)
	go func() {
		_, err := busy.ExecContext(ctx, "INSERT INTO s15 SELECT 1 FROM pg_advisory_xact_lock(15)")
		inFlight <- err
	}()
	waitFor(t, 5*time.Second, "the write waiting for the lock", func() bool {
		var k int
		if err := lock.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO s15%'").Scan(&k); err != nil {
			t.Fatal(err)
		}
		return k == 1
	})

	px.SetMode(faultproxy.Refuse)
	accepted := px.Stats().Accepted
	start := time.Now()
	_, err = db.ExecContext(ctx, "INSERT INTO s15 VALUES (2)") // no idle connection in the pool: a new one
	took := time.Since(start)
	var ce *pgconn.ConnectError
	if !errors.Is(err, ErrNoPrimary) || !errors.As(err, &ce) {
		t.Fatalf("write on a new connection to a refusing primary: %v, want ErrNoPrimary and a *pgconn.ConnectError", err)
	}
	attempts := px.Stats().Accepted - accepted
	if took < wait || took > 2*wait || attempts < 2 {
		t.Fatalf("write failed after %v and %d connection attempts, want the primary wait %v once, with retries", took, attempts, wait)
	}
	pxName := hostPort(px.Host(), uint16(px.Port()))
	if p, ok := r.Primary(); !ok || p != pxName || stat(r, pxName).Transitions != 0 {
		t.Fatalf("monitor primary %q %v (%+v) with the existing connections up", p, ok, stat(r, pxName))
	}
	if _, err := idle.ExecContext(ctx, "INSERT INTO s15 VALUES (3)"); err != nil {
		t.Fatalf("write on an existing session: %v", err)
	}
	if _, err := lock.Exec(ctx, "SELECT pg_advisory_unlock(15)"); err != nil {
		t.Fatal(err)
	}
	if err := <-inFlight; err != nil {
		t.Fatalf("write in flight when the refusals started: %v", err)
	}
	t.Logf("refused: new-connection write failed after %v (primary wait %v, %d connection attempts): %v", took.Round(time.Millisecond), wait, attempts, err)

	px.SetMode(faultproxy.Pass)
	busy.Close()
	idle.Close()
	db.SetMaxIdleConns(0) // the next write opens a new connection
	if _, err := db.ExecContext(ctx, "INSERT INTO s15 VALUES (4)"); err != nil {
		t.Fatalf("write on a new connection after the refusals: %v", err)
	}
	var ids []int32
	if err := lock.QueryRow(ctx, "SELECT array_agg(id ORDER BY id) FROM s15").Scan(&ids); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []int32{1, 3, 4}) {
		t.Fatalf("rows %v, want [1 3 4]: the refused write must not run", ids)
	}
}

// tokenFrom returns the read-your-writes token ctx carries, or nil.
func tokenFrom(ctx context.Context) *token {
	if in := intentOf(ctx); in != nil {
		return in.token
	}
	return nil
}

// lastWriteTime returns when the last write recorded by the token ended, or the zero time.
func (t *token) lastWriteTime() time.Time {
	if n := t.lastWrite.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}
