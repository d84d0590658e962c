package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
)

// stepBasics opens the first connection and runs an exec, a query over rows and a QueryRow.
func stepBasics(ctx context.Context, e *env) error {
	if err := e.db.PingContext(ctx); err != nil {
		return err
	}
	if _, err := e.db.ExecContext(ctx, "INSERT INTO items (name, qty) VALUES ($1, $2), ($3, $4)",
		"apple", 3, "pear", 5); err != nil {
		return err
	}
	if err := printItems(ctx, e); err != nil {
		return err
	}
	var total int
	if err := e.db.QueryRowContext(ctx, "SELECT sum(qty) FROM items").Scan(&total); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "total quantity: %d\n", total)
	return nil
}

// printItems lists the items table.
func printItems(ctx context.Context, e *env) error {
	rows, err := e.db.QueryContext(ctx, "SELECT name, qty FROM items ORDER BY id")
	if err != nil {
		return err
	}
	defer rows.Close()
	var items []string
	for rows.Next() {
		var name string
		var qty int
		if err := rows.Scan(&name, &qty); err != nil {
			return err
		}
		items = append(items, fmt.Sprintf("%s=%d", name, qty))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := rows.Close(); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "items: %s\n", strings.Join(items, " "))
	return nil
}

// stepSavepoint rolls back to a savepoint after a failed statement and commits the rest.
func stepSavepoint(ctx context.Context, e *env) error {
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, "INSERT INTO items (name, qty) VALUES ('plum', 1)"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "SAVEPOINT before_dup"); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO items (name, qty) VALUES ('apple', 9)")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return fmt.Errorf("want a unique violation, got %v", err)
	}
	fmt.Fprintf(e.out, "duplicate rejected (SQLSTATE %s, still a *pgconn.PgError); rolling back to the savepoint\n", pgErr.Code)
	if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT before_dup"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO items (name, qty) VALUES ('fig', 2)"); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return printItems(ctx, e)
}

// stepRollback changes every row in a transaction and rolls it back.
func stepRollback(ctx context.Context, e *env) error {
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE items SET qty = 0"); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Rollback(); err != nil {
		return err
	}
	var zero int
	if err := e.db.QueryRowContext(ctx, "SELECT count(*) FROM items WHERE qty = 0").Scan(&zero); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "rows with qty = 0 after the rollback: %d\n", zero)
	return nil
}

// stepPrepared prepares one statement and executes it several times.
func stepPrepared(ctx context.Context, e *env) error {
	st, err := e.db.PrepareContext(ctx, "INSERT INTO items (name, qty) VALUES ($1, $2)")
	if err != nil {
		return err
	}
	defer st.Close()
	for i, name := range []string{"kiwi", "lime", "mango"} {
		if _, err := st.ExecContext(ctx, name, 10+i); err != nil {
			return err
		}
	}
	if err := st.Close(); err != nil {
		return err
	}
	fmt.Fprintln(e.out, "one prepare, three executions of the same statement")
	return nil
}

// stepCopy bulk-loads rows with pgx's CopyFrom on the connection behind a *sql.Conn.
func stepCopy(ctx context.Context, e *env) error {
	c, err := e.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	rows := make([][]any, 1000)
	for i := range rows {
		rows[i] = []any{fmt.Sprintf("bulk-%04d", i), i % 7}
	}
	var copied int64
	err = pgprovider.Raw(ctx, c, func(ctx context.Context, pc *pgx.Conn) error {
		var err error
		copied, err = pc.CopyFrom(ctx, pgx.Identifier{"items"}, []string{"name", "qty"}, pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		return err
	}
	var n int
	if err := c.QueryRowContext(ctx, "SELECT count(*) FROM items WHERE name LIKE 'bulk-%'").Scan(&n); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "COPY loaded %d rows; the table now holds %d bulk rows\n", copied, n)
	return nil
}

// stepReplica writes on the primary and reads the row back on the streaming replica.
func stepReplica(ctx context.Context, e *env) error {
	primary, replica := e.cluster.Primary(), e.cluster.Replicas()[0]
	if _, err := e.db.ExecContext(ctx, "INSERT INTO items (name, qty) VALUES ($1, $2)", "from-primary", 42); err != nil {
		return err
	}
	t0 := time.Now()
	if err := replica.WaitCaughtUp(ctx, primary); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "replica %s replayed the primary's WAL in %s\n", replica.Name, time.Since(t0).Round(time.Millisecond))

	rdb, err := pgprovider.Open(dsnWith(replica.DSN(), "search_path", demoSchema), pgprovider.WithMiddleware(newLogger(e.out)))
	if err != nil {
		return err
	}
	defer rdb.Close()
	var inRecovery bool
	var qty sql.NullInt64
	if err := rdb.QueryRowContext(ctx,
		"SELECT pg_is_in_recovery(), (SELECT qty FROM items WHERE name = 'from-primary')").Scan(&inRecovery, &qty); err != nil {
		return err
	}
	if !inRecovery || !qty.Valid {
		return fmt.Errorf("replica: in recovery %v, row seen %v", inRecovery, qty.Valid)
	}
	fmt.Fprintf(e.out, "replica: pg_is_in_recovery()=%v, row written on the primary has qty=%d\n", inRecovery, qty.Int64)

	_, err = rdb.ExecContext(ctx, "INSERT INTO items (name, qty) VALUES ('on-replica', 1)")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" {
		return fmt.Errorf("want read_only_sql_transaction on the replica, got %v", err)
	}
	fmt.Fprintln(e.out, "replica refuses writes (SQLSTATE 25006)")
	return nil
}
