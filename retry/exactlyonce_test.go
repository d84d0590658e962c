package retry_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider/internal/faultproxy"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/pgerror"
	"github.com/pgprovider/pgprovider/retry"
)

// tally counts operations by outcome.
type tally struct {
	attempted, acknowledged, unknown, failed atomic.Int64
}

func (c *tally) String() string {
	return fmt.Sprintf("attempted=%d acknowledged=%d unknown-outcome=%d failed-known=%d",
		c.attempted.Load(), c.acknowledged.Load(), c.unknown.Load(), c.failed.Load())
}

func proxied(t *testing.T, node *pgtest.Node) *faultproxy.Proxy {
	t.Helper()
	px, err := faultproxy.New(node.Host + ":" + strconv.Itoa(node.Port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = px.Close() })
	return px
}

// The exactly-once test: 1000 autocommit UPDATE n = n + 1 and 1000 INSERTs through retry.New
// while the proxy cuts connections at random points (before a chunk, after it, in its middle,
// in both directions). Every acknowledged operation is applied exactly once; a failed one at
// most once, and only if its error says the outcome is unknown.
func TestExactlyOnceUnderRandomCuts(t *testing.T) {
	node := pgtest.Shared(t).Primary()
	admin := openPG(t, node.DSN(), nil)
	mustExec(t, admin, `DROP TABLE IF EXISTS eo_counter, eo_log;
		CREATE TABLE eo_counter (n int NOT NULL); INSERT INTO eo_counter VALUES (0);
		CREATE TABLE eo_log (op int NOT NULL)`) // no unique key: a double insert would show
	px := proxied(t, node)
	var upd, ins tally
	var retries atomic.Int64
	db := openPG(t, node.DSN("host", px.Host(), "port", strconv.Itoa(px.Port())), nil,
		retry.WithMaxAttempts(10), retry.WithOnAttempt(func(_ context.Context, a retry.Attempt) {
			if a.Retry {
				retries.Add(1)
			}
		}))
	db.SetMaxOpenConns(8)
	px.SetRandomCut(0.03, 20261125)

	const ops = 2000
	outcome := make([]error, ops) // per INSERT op
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= ops {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				var err error
				tl := &upd
				if i%2 == 0 {
					_, err = db.ExecContext(ctx, `UPDATE eo_counter SET n = n + 1`)
				} else {
					tl = &ins
					_, err = db.ExecContext(ctx, `INSERT INTO eo_log VALUES ($1)`, i)
					outcome[i] = err
				}
				cancel()
				tl.attempted.Add(1)
				switch {
				case err == nil:
					tl.acknowledged.Add(1)
				case errors.Is(err, pgerror.OutcomeUnknown):
					tl.unknown.Add(1)
				default:
					tl.failed.Add(1)
					t.Logf("op %d failed with a known outcome: %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	px.SetRandomCut(0, 0)
	stats := px.Stats()

	var n int
	if err := admin.QueryRow(`SELECT n FROM eo_counter`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	applied := map[int]int{}
	rows, err := admin.Query(`SELECT op, count(*) FROM eo_log GROUP BY op`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var op, c int
		if err := rows.Scan(&op, &c); err != nil {
			t.Fatal(err)
		}
		applied[op] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	insApplied := 0
	for i := 1; i < ops; i += 2 {
		c := applied[i]
		insApplied += c
		err := outcome[i]
		switch {
		case c > 1:
			t.Errorf("INSERT %d applied %d times", i, c)
		case err == nil && c != 1:
			t.Errorf("INSERT %d acknowledged but applied %d times", i, c)
		case err != nil && !errors.Is(err, pgerror.OutcomeUnknown) && c != 0:
			t.Errorf("INSERT %d failed with a known outcome (%v) but was applied", i, err)
		case err != nil && errors.Is(err, pgerror.OutcomeUnknown) && !pgerror.Classify(err).Connection():
			t.Errorf("INSERT %d: outcome-unknown error not classified as connection lost: %v", i, err)
		}
	}
	// UPDATEs are counted in aggregate: applied - acknowledged is at most the unknown ones.
	if a, u := int(upd.acknowledged.Load()), int(upd.unknown.Load()); n < a || n > a+u {
		t.Errorf("UPDATE applied %d, acknowledged %d, unknown %d: want acknowledged <= applied <= acknowledged+unknown", n, a, u)
	}
	t.Logf("UPDATE: %v applied=%d", &upd, n)
	t.Logf("INSERT: %v applied=%d", &ins, insApplied)
	t.Logf("retries=%d proxy: accepted=%d cuts=%d", retries.Load(), stats.Accepted, stats.Cuts)
	if stats.Cuts < 20 || retries.Load() == 0 {
		t.Errorf("too few faults to mean anything: cuts=%d retries=%d", stats.Cuts, retries.Load())
	}
}

// retry.Tx with conflicting serializable transactions while connections are cut at random:
// every acknowledged transaction is applied exactly once, a failed one at most once and only
// when its error says the commit outcome is unknown.
func TestTxExactlyOnceUnderConflictsAndCuts(t *testing.T) {
	node := pgtest.Shared(t).Primary()
	admin := openPG(t, node.DSN(), nil)
	mustExec(t, admin, `DROP TABLE IF EXISTS txo_counter, txo_log;
		CREATE TABLE txo_counter (n int NOT NULL); INSERT INTO txo_counter VALUES (0);
		CREATE TABLE txo_log (op int NOT NULL)`)
	px := proxied(t, node)
	db := openPG(t, node.DSN("host", px.Host(), "port", strconv.Itoa(px.Port())), nil)
	db.SetMaxOpenConns(6)
	px.SetRandomCut(0.01, 7)

	const ops = 600
	outcome := make([]error, ops)
	var serialization atomic.Int64
	var wg sync.WaitGroup
	next := atomic.Int64{}
	opts := []retry.Option{fast, retry.WithMaxAttempts(30), retry.WithMaxElapsedTime(0),
		retry.WithOnAttempt(func(_ context.Context, a retry.Attempt) {
			if pgerror.Classify(a.Err) == pgerror.Serialization {
				serialization.Add(1)
			}
		})}
	for w := 0; w < 6; w++ {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= ops {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				outcome[i] = retry.Tx(ctx, db, &sql.TxOptions{Isolation: sql.LevelSerializable}, func(tx *sql.Tx) error {
					var n int
					if err := tx.QueryRowContext(ctx, `SELECT n FROM txo_counter`).Scan(&n); err != nil {
						return err
					}
					if _, err := tx.ExecContext(ctx, `UPDATE txo_counter SET n = $1`, n+1); err != nil {
						return err
					}
					_, err := tx.ExecContext(ctx, `INSERT INTO txo_log VALUES ($1)`, i)
					return err
				}, opts...)
				cancel()
			}
		})
	}
	wg.Wait()
	px.SetRandomCut(0, 0)

	var n, logged int
	if err := admin.QueryRow(`SELECT n, (SELECT count(*) FROM txo_log) FROM txo_counter`).Scan(&n, &logged); err != nil {
		t.Fatal(err)
	}
	applied := map[int]int{}
	rows, err := admin.Query(`SELECT op, count(*) FROM txo_log GROUP BY op`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var op, c int
		if err := rows.Scan(&op, &c); err != nil {
			t.Fatal(err)
		}
		applied[op] = c
	}
	var ack, unknown, failed int
	for i, err := range outcome {
		c := applied[i]
		switch {
		case err == nil:
			ack++
			if c != 1 {
				t.Errorf("tx %d acknowledged, applied %d times", i, c)
			}
		case errors.Is(err, retry.ErrCommitOutcomeUnknown):
			unknown++
			if c > 1 {
				t.Errorf("tx %d applied %d times", i, c)
			}
		default:
			failed++
			if c != 0 {
				t.Errorf("tx %d failed (%v) but applied %d times", i, err, c)
			}
			t.Logf("tx %d failed: %v", i, err)
		}
	}
	if n != logged { // serializable: the counter and the log agree
		t.Errorf("counter %d != logged %d", n, logged)
	}
	t.Logf("retry.Tx: attempted=%d acknowledged=%d applied=%d commit-outcome-unknown=%d failed=%d serialization-failures=%d cuts=%d",
		ops, ack, logged, unknown, failed, serialization.Load(), px.Stats().Cuts)
	if serialization.Load() == 0 {
		t.Error("no serialization failure happened: the test proves nothing about conflicts")
	}
}
