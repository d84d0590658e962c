package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/pgprovider/pgprovider/pgerror"
	"github.com/pgprovider/pgprovider/retry"
)

// stepRetry runs a read-modify-write of the counter in a SERIALIZABLE transaction while another
// session increments it between the read and the write: PostgreSQL aborts the transaction with
// a serialization failure (40001), and retry.Tx runs the closure again on a fresh snapshot.
func stepRetry(ctx context.Context, e *env) error {
	var before, after int
	if err := e.db.QueryRowContext(ctx, "SELECT n FROM counter").Scan(&before); err != nil {
		return err
	}
	attempts := 0
	err := retry.Tx(ctx, e.db, &sql.TxOptions{Isolation: sql.LevelSerializable}, func(tx *sql.Tx) error {
		attempts++
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT n FROM counter").Scan(&n); err != nil {
			return err
		}
		if attempts == 1 {
			fmt.Fprintf(e.out, "attempt 1 read n=%d; another session now increments n and commits\n", n)
			if _, err := e.db.ExecContext(ctx, "UPDATE counter SET n = n + 1"); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, "UPDATE counter SET n = $1", n+1)
		return err
	}, retry.WithOnAttempt(func(_ context.Context, a retry.Attempt) {
		if a.Retry {
			fmt.Fprintf(e.out, "attempt %d failed with SQLSTATE %s (%s); retry.Tx runs the closure again in %s\n",
				a.N, pgerror.Code(a.Err), pgerror.Classify(a.Err), a.Delay.Round(time.Millisecond))
		}
	}))
	if err != nil {
		return err
	}
	if err := e.db.QueryRowContext(ctx, "SELECT n FROM counter").Scan(&after); err != nil {
		return err
	}
	if after-before != 2 || attempts < 2 {
		return fmt.Errorf("want +2 after a retried attempt, got %+d after %d attempt(s)", after-before, attempts)
	}
	fmt.Fprintf(e.out, "committed by attempt %d: n went from %d to %d, both increments applied, none lost\n", attempts, before, after)
	return nil
}
