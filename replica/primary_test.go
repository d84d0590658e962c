package replica

import (
	"database/sql"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/faultproxy"
	"github.com/pgprovider/pgprovider/internal/pgtest"
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
	if TokenFrom(tok).pending.Load() != 0 || !TokenFrom(tok).LastWrite().IsZero() {
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
	if !demotedError(err) {
		t.Fatalf("write on a standby: %v, want 25006", err)
	}
	if after := pid(); after == before {
		t.Fatal("the session that answered 25006 was reused")
	}
}
