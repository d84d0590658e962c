package retry_test

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/retry"
)

// Retry autocommit statements: serialization failures, deadlocks, a backend terminated
// while idle, connection establishment. A write whose outcome is unknown is never re-sent.
func ExampleNew() {
	db, err := pgprovider.Open("postgres://app@db.internal/app",
		pgprovider.WithMiddleware(retry.New(retry.WithMaxAttempts(4))))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	// db.ExecContext(ctx, "UPDATE accounts SET n = n + 1 WHERE id = $1", id)
	fmt.Println("configured")
	// Output: configured
}

// Mark a statement that is safe to run twice, so that it is retried even when the
// connection broke after it was sent.
func ExampleIdempotent() {
	ctx := retry.Idempotent(context.Background())
	_ = ctx // db.QueryRowContext(ctx, "SELECT balance FROM accounts WHERE id = $1", id)
	fmt.Println(retry.AttemptFrom(ctx))
	// Output: 1
}

// Run a whole transaction again on serialization failures; a commit whose outcome is
// unknown is reported, never re-run.
func ExampleTx() {
	transfer := func(ctx context.Context, db *sql.DB) error {
		return retry.Tx(ctx, db, &sql.TxOptions{Isolation: sql.LevelSerializable}, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance - 10 WHERE id = 1"); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance + 10 WHERE id = 2")
			return err
		})
	}
	_ = transfer
	// if errors.Is(err, retry.ErrCommitOutcomeUnknown) { check before trying again }
}
