// Command transaction shows transactions with pgprovider: commit and rollback with the
// deferred-rollback idiom, isolation levels, savepoints and read-only transactions.
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
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
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
		commitAndRollback, isolationLevels, repeatableRead, savepoints, readOnly,
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
