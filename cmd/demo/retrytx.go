package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgprovider/pgprovider/pgerror"
	"github.com/pgprovider/pgprovider/retry"
)

// stepRetry runs two serializable transactions that read the same row and then both write
// it: PostgreSQL aborts one with a serialization failure (40001) and retry.Tx runs it again.
// It then classifies a duplicate insert with pgerror.
func stepRetry(ctx context.Context, e *env) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := e.db.ExecContext(ctx, "UPDATE tally SET n = 0 WHERE id = 1"); err != nil {
		return err
	}
	fmt.Fprintln(e.out, "two SERIALIZABLE transactions both read n, meet, then both write n+1 (a read-modify-write)")

	meet := newMeeting(2) // each transaction's first attempt waits here until both have read

	var retried atomic.Int64
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, name := range []string{"A", "B"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = incrementOnce(ctx, e, name, meet, &retried)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var n int
	if err := e.db.QueryRowContext(ctx, "SELECT n FROM tally WHERE id = 1").Scan(&n); err != nil {
		return err
	}
	if n != 2 || retried.Load() < 1 {
		return fmt.Errorf("want n=2 after at least one retried attempt, got n=%d after %d", n, retried.Load())
	}
	fmt.Fprintf(e.out, "retried attempts: %d; final n=%d: both increments applied, none lost\n", retried.Load(), n)

	_, err := e.db.ExecContext(ctx, "INSERT INTO items (name, qty) VALUES ('apple', 1)")
	if pgerror.Classify(err) != pgerror.UniqueViolation {
		return fmt.Errorf("want a unique violation, got %v", err)
	}
	fmt.Fprintf(e.out, "duplicate insert: pgerror.Classify(err) = %v, constraint %q, SQLSTATE %s, retryable=%v\n",
		pgerror.Classify(err), pgerror.Constraint(err), pgerror.Code(err), pgerror.Classify(err).Retryable())
	return nil
}

// meeting lets n goroutines wait until all of them have arrived.
type meeting struct {
	left atomic.Int32
	all  chan struct{}
}

func newMeeting(n int32) *meeting {
	m := &meeting{all: make(chan struct{})}
	m.left.Store(n)
	return m
}

// arrive marks one goroutine arrived and waits for the others, bounded by ctx.
func (m *meeting) arrive(ctx context.Context) error {
	if m.left.Add(-1) == 0 {
		close(m.all)
	}
	select {
	case <-m.all:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// incrementOnce adds 1 to the tally in a serializable transaction run by retry.Tx. Its first
// attempt reads n and waits at meet for the other transaction to have read too, so that both
// hold a snapshot from before either one commits.
func incrementOnce(ctx context.Context, e *env, name string, meet *meeting, retried *atomic.Int64) error {
	attempt := 0
	onAttempt := retry.WithOnAttempt(func(_ context.Context, a retry.Attempt) {
		switch {
		case a.Err == nil:
			fmt.Fprintf(e.out, "tx %s: attempt %d committed\n", name, a.N)
		case a.Retry:
			retried.Add(1)
			fmt.Fprintf(e.out, "tx %s: attempt %d failed with SQLSTATE %s (%s); retry.Tx runs it again in %s\n",
				name, a.N, pgerror.Code(a.Err), pgerror.Classify(a.Err), a.Delay.Round(time.Millisecond))
		default:
			fmt.Fprintf(e.out, "tx %s: attempt %d failed for good: %v\n", name, a.N, a.Err)
		}
	})
	return retry.Tx(ctx, e.db, &sql.TxOptions{Isolation: sql.LevelSerializable}, func(tx *sql.Tx) error {
		attempt++
		var n int
		err := tx.QueryRowContext(ctx, "SELECT n FROM tally WHERE id = 1").Scan(&n)
		if attempt == 1 {
			if merr := meet.arrive(ctx); err == nil {
				err = merr
			}
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE tally SET n = $1 WHERE id = 1", n+1)
		return err
	}, onAttempt, retry.WithInterval(20*time.Millisecond, 200*time.Millisecond))
}
