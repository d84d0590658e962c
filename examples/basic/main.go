// Command basic shows everyday database/sql use with pgprovider: open, ping, create a
// table, insert, query rows, QueryRow, NULL handling and Close.
//
//	DATABASE_URL='postgres://user:pass@localhost:5432/db?sslmode=disable' go run ./examples/basic
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	_ "github.com/pgprovider/pgprovider" // registers the "pgprovider" driver
)

// table is created at the start and dropped at the end.
const table = "pgprovider_example_people"

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

	// Open only validates the DSN; connections are made on first use.
	// pgprovider.Open(dsn, pgprovider.WithMiddleware(...)) does the same with middleware.
	db, err := sql.Open("pgprovider", dsn)
	if err != nil {
		return err
	}
	// Close releases every pooled connection; report its error if nothing else failed.
	defer func() {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	fmt.Println("connected")

	if err := createTable(ctx, db); err != nil {
		return err
	}
	defer func() {
		if _, derr := db.ExecContext(context.Background(), "DROP TABLE "+table); err == nil {
			err = derr
		}
	}()
	if err := insert(ctx, db); err != nil {
		return err
	}
	if err := list(ctx, db); err != nil {
		return err
	}
	return queryRow(ctx, db)
}

func createTable(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `
		DROP TABLE IF EXISTS `+table+`;
		CREATE TABLE `+table+` (
			id    bigserial PRIMARY KEY,
			name  text NOT NULL,
			email text,          -- may be NULL
			age   int            -- may be NULL
		)`)
	return err
}

// insert adds rows with ExecContext and with INSERT ... RETURNING through QueryRowContext.
// A nil argument is sent as NULL.
func insert(ctx context.Context, db *sql.DB) error {
	res, err := db.ExecContext(ctx,
		"INSERT INTO "+table+" (name, email, age) VALUES ($1, $2, $3), ($4, $5, $6)",
		"Ada", "ada@example.com", 36,
		"Brian", nil, nil) // NULL email and age
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	fmt.Printf("inserted %d rows\n", n)

	// sql.Null[T] (or sql.NullString, *string, ...) sends NULL when Valid is false.
	email := sql.Null[string]{V: "cleo@example.com", Valid: true}
	age := sql.Null[int64]{} // NULL
	var id int64
	if err := db.QueryRowContext(ctx,
		"INSERT INTO "+table+" (name, email, age) VALUES ($1, $2, $3) RETURNING id",
		"Cleo", email, age).Scan(&id); err != nil {
		return err
	}
	fmt.Printf("inserted Cleo with id %d\n", id)
	return nil
}

// list reads every row. Nullable columns scan into sql.NullString, sql.Null[T] or a pointer;
// scanning NULL into a plain string or int fails.
func list(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "SELECT id, name, email, age FROM "+table+" ORDER BY id")
	if err != nil {
		return err
	}
	defer rows.Close() // always close: it returns the connection to the pool
	for rows.Next() {
		var (
			id    int64
			name  string
			email sql.NullString
			age   *int // nil for NULL
		)
		if err := rows.Scan(&id, &name, &email, &age); err != nil {
			return err
		}
		emailText, ageText := "(no email)", "(age unknown)"
		if email.Valid {
			emailText = email.String
		}
		if age != nil {
			ageText = fmt.Sprintf("age %d", *age)
		}
		fmt.Printf("  %d %-6s %-18s %s\n", id, name, emailText, ageText)
	}
	// Err reports an error that ended the loop early (a network error, a bad row).
	return rows.Err()
}

// queryRow reads single rows, including the no-row case and a NULL scanned into a plain type.
func queryRow(ctx context.Context, db *sql.DB) error {
	var name string
	var age sql.Null[int64]
	if err := db.QueryRowContext(ctx, "SELECT name, age FROM "+table+" WHERE email = $1",
		"ada@example.com").Scan(&name, &age); err != nil {
		return err
	}
	fmt.Printf("QueryRow: %s is %d (valid=%v)\n", name, age.V, age.Valid)

	err := db.QueryRowContext(ctx, "SELECT name FROM "+table+" WHERE id = $1", -1).Scan(&name)
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("want sql.ErrNoRows, got %v", err)
	}
	fmt.Println("QueryRow: no row for id -1 (sql.ErrNoRows)")

	var plain string
	err = db.QueryRowContext(ctx, "SELECT email FROM "+table+" WHERE name = 'Brian'").Scan(&plain)
	if err == nil {
		return errors.New("scanning NULL into a string should fail")
	}
	fmt.Println("QueryRow: NULL into a plain string fails:", err)

	var count int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE email IS NULL").Scan(&count); err != nil {
		return err
	}
	fmt.Printf("rows with a NULL email: %d\n", count)
	return nil
}
