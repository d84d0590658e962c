// Command transaction shows transactions with pgprovider: commit and rollback with the
// deferred-rollback idiom, isolation levels, savepoints, read-only transactions, and
// serializable transactions run again by retry.Tx on real serialization conflicts.
//
//	DATABASE_URL='postgres://user:pass@localhost:5432/db?sslmode=disable' go run ./examples/transaction
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/pgerror"
	"github.com/pgprovider/pgprovider/retry"
)

// table is created at the start and dropped at the end.
const table = "pgprovider_example_accounts"

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() (err error) {
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		return errors.New("set DATABASE_URL, e.g. postgres://user:pass@localhost:5432/db?sslmode=disable")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := pgprovider.Open(dsn)
	if err != nil {
		return err
	}
	defer db.Close()

	if _, err := db.ExecContext(ctx, `
		DROP TABLE IF EXISTS `+table+`;
		CREATE TABLE `+table+` (name text PRIMARY KEY, balance int NOT NULL CHECK (balance >= 0));
		INSERT INTO `+table+` VALUES ('alice', 100), ('bob', 50)`); err != nil {
		return err
	}
	defer func() {
		if _, derr := db.ExecContext(context.Background(), "DROP TABLE "+table); err == nil {
			err = derr
		}
	}()

	for _, f := range []func(context.Context, *sql.DB) error{
		commitAndRollback, isolationLevels, repeatableRead, savepoints, readOnly, serializableRetry,
	} {
		if err := f(ctx, db); err != nil {
			return err
		}
	}
	return nil
}

// inTx runs fn in a transaction: it commits when fn returns nil and rolls back otherwise
// (also when fn panics, thanks to the deferred Rollback, which is a no-op after Commit).
func inTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // returns sql.ErrTxDone after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// transfer moves amount from one account to another inside tx.
func transfer(ctx context.Context, tx *sql.Tx, from, to string, amount int) error {
	if _, err := tx.ExecContext(ctx, "UPDATE "+table+" SET balance = balance - $1 WHERE name = $2", amount, from); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "UPDATE "+table+" SET balance = balance + $1 WHERE name = $2", amount, to)
	return err
}

func balances(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (string, error) {
	var s string
	err := q.QueryRowContext(ctx, "SELECT string_agg(name || '=' || balance, ' ' ORDER BY name) FROM "+table).Scan(&s)
	return s, err
}

// commitAndRollback commits one transfer and rolls back one that breaks the CHECK constraint.
func commitAndRollback(ctx context.Context, db *sql.DB) error {
	if err := inTx(ctx, db, nil, func(tx *sql.Tx) error { return transfer(ctx, tx, "alice", "bob", 30) }); err != nil {
		return err
	}
	err := inTx(ctx, db, nil, func(tx *sql.Tx) error { return transfer(ctx, tx, "bob", "alice", 1000) })
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23514" {
		return fmt.Errorf("want a check violation, got %v", err)
	}
	b, err := balances(ctx, db)
	if err != nil {
		return err
	}
	fmt.Printf("commit/rollback: transfer of 30 committed, transfer of 1000 rolled back (%s): %s\n", pgErr.ConstraintName, b)
	return nil
}

// isolationLevels begins a transaction at each level PostgreSQL supports and asks the server
// which level it runs at. (READ UNCOMMITTED behaves as READ COMMITTED in PostgreSQL.)
func isolationLevels(ctx context.Context, db *sql.DB) error {
	for _, level := range []sql.IsolationLevel{sql.LevelDefault, sql.LevelReadCommitted, sql.LevelRepeatableRead, sql.LevelSerializable} {
		var got string
		err := inTx(ctx, db, &sql.TxOptions{Isolation: level}, func(tx *sql.Tx) error {
			return tx.QueryRowContext(ctx, "SHOW transaction_isolation").Scan(&got)
		})
		if err != nil {
			return err
		}
		fmt.Printf("isolation: asked for %-16s -> server runs %s\n", level, got)
	}
	return nil
}

// repeatableRead shows the snapshot of a REPEATABLE READ transaction: a change committed by
// another connection meanwhile is not visible inside it, and is visible afterwards.
func repeatableRead(ctx context.Context, db *sql.DB) error {
	var first, second int
	err := inTx(ctx, db, &sql.TxOptions{Isolation: sql.LevelRepeatableRead}, func(tx *sql.Tx) error {
		q := "SELECT balance FROM " + table + " WHERE name = 'alice'"
		if err := tx.QueryRowContext(ctx, q).Scan(&first); err != nil {
			return err
		}
		// Another connection of the pool commits a change.
		if _, err := db.ExecContext(ctx, "UPDATE "+table+" SET balance = balance + 5 WHERE name = 'alice'"); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, q).Scan(&second)
	})
	if err != nil {
		return err
	}
	var after int
	if err := db.QueryRowContext(ctx, "SELECT balance FROM "+table+" WHERE name = 'alice'").Scan(&after); err != nil {
		return err
	}
	fmt.Printf("repeatable read: alice read %d, then %d inside the transaction; %d after it\n", first, second, after)
	return nil
}

// savepoints undoes part of a transaction: a failed statement aborts the whole transaction
// unless it is rolled back to a savepoint taken before it.
func savepoints(ctx context.Context, db *sql.DB) error {
	err := inTx(ctx, db, nil, func(tx *sql.Tx) error {
		if err := transfer(ctx, tx, "alice", "bob", 10); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT risky"); err != nil {
			return err
		}
		err := transfer(ctx, tx, "bob", "alice", 1000) // breaks the CHECK constraint
		if err == nil {
			return errors.New("want a check violation")
		}
		fmt.Println("savepoint: failed inside the transaction:", err)
		if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT risky"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT risky"); err != nil {
			return err
		}
		return nil // commit the first transfer
	})
	if err != nil {
		return err
	}
	b, err := balances(ctx, db)
	if err != nil {
		return err
	}
	fmt.Println("savepoint: rolled back to the savepoint and committed the rest:", b)
	return nil
}

// readOnly runs a report in a read-only transaction, where any write fails (SQLSTATE 25006).
func readOnly(ctx context.Context, db *sql.DB) error {
	ro := &sql.TxOptions{ReadOnly: true}
	var report string
	if err := inTx(ctx, db, ro, func(tx *sql.Tx) (err error) {
		report, err = balances(ctx, tx)
		return err
	}); err != nil {
		return err
	}
	fmt.Println("read-only: report:", report)

	err := inTx(ctx, db, ro, func(tx *sql.Tx) error { return transfer(ctx, tx, "alice", "bob", 1) })
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" {
		return fmt.Errorf("want read_only_sql_transaction, got %v", err)
	}
	fmt.Println("read-only: a write is refused:", pgErr.Message)
	return nil
}

// Increments each goroutine of serializableRetry makes.
const (
	workers   = 2
	perWorker = 25
)

// serializableRetry has two goroutines increment the same row perWorker times each, every
// increment a read-modify-write (SELECT, then UPDATE with the value read plus one) in its own
// SERIALIZABLE transaction. Under READ COMMITTED, overlapping increments would be lost; under
// SERIALIZABLE PostgreSQL aborts one of two overlapping transactions with SQLSTATE 40001, and
// retry.Tx runs the whole closure again on a fresh snapshot. The final value is exact.
func serializableRetry(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, "INSERT INTO "+table+" VALUES ('tally', 0)"); err != nil {
		return err
	}
	var retried, serialization atomic.Int64
	opts := []retry.Option{
		// Two goroutines hammering one row conflict often: allow more attempts than the
		// default, with short waits.
		retry.WithMaxAttempts(20),
		retry.WithInterval(time.Millisecond, 50*time.Millisecond),
		retry.WithOnAttempt(func(_ context.Context, a retry.Attempt) {
			if a.Err != nil && a.Retry {
				retried.Add(1)
				if pgerror.Classify(a.Err) == pgerror.Serialization {
					serialization.Add(1)
				}
			}
		}),
	}
	serializable := &sql.TxOptions{Isolation: sql.LevelSerializable}
	increment := func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT balance FROM "+table+" WHERE name = 'tally'").Scan(&n); err != nil {
			return err
		}
		time.Sleep(time.Millisecond) // the application's work between read and write
		_, err := tx.ExecContext(ctx, "UPDATE "+table+" SET balance = $1 WHERE name = 'tally'", n+1)
		return err
	}

	// Open a connection per goroutine first and start them together, so that they overlap
	// from the first increment instead of one finishing while the other dials.
	if err := warmPool(ctx, db, workers); err != nil {
		return err
	}
	start := make(chan struct{})
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range perWorker {
				if err := retry.Tx(ctx, db, serializable, increment, opts...); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var got int
	if err := db.QueryRowContext(ctx, "SELECT balance FROM "+table+" WHERE name = 'tally'").Scan(&got); err != nil {
		return err
	}
	if got != workers*perWorker {
		return fmt.Errorf("serializable retry: want %d, got %d", workers*perWorker, got)
	}
	fmt.Printf("serializable retry: %d goroutines x %d increments = %d; %d attempts retried (%d on SQLSTATE 40001)\n",
		workers, perWorker, got, retried.Load(), serialization.Load())
	return nil
}

// warmPool leaves n idle connections in db's pool (database/sql keeps 2 idle by default).
func warmPool(ctx context.Context, db *sql.DB, n int) error {
	conns := make([]*sql.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	return nil
}
