// Command slog shows pgprovider's log/slog middleware: one record per operation when it ends,
// ordinary statements at info here (debug by default), statements slower than a threshold at
// warn, failures at error; query arguments masked by a function of the program's.
//
//	DATABASE_URL='postgres://user:pass@localhost:5432/db?sslmode=disable' go run ./examples/slog
package main

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/middleware/pgslog"
)

func main() {
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		log.Fatal("set DATABASE_URL, e.g. postgres://user:pass@localhost:5432/db?sslmode=disable")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, dsn, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// mask logs strings that look like e-mail addresses as "***" and every other argument as is.
func mask(_ int, v any) any {
	if s, ok := v.(string); ok && strings.Contains(s, "@") {
		return "***"
	}
	return v
}

func run(ctx context.Context, dsn string, out io.Writer) error {
	h := slog.NewTextHandler(out, &slog.HandlerOptions{
		Level: slog.LevelInfo,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr { // no timestamps, so runs compare
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
	db, err := pgprovider.Open(dsn, pgprovider.WithMiddleware(pgslog.New(slog.New(h),
		pgslog.WithSlowThreshold(50*time.Millisecond), // statements taking 50 ms or more: warn
		pgslog.WithArgs(mask),                         // without it, only the argument count is logged
		pgslog.WithLevel(middleware.OpExec, slog.LevelInfo),
		pgslog.WithLevel(middleware.OpQuery, slog.LevelInfo),
	)))
	if err != nil {
		return err
	}
	defer db.Close()

	if _, err := db.ExecContext(ctx, "CREATE TEMP TABLE example_slog (id int PRIMARY KEY, email text)"); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO example_slog VALUES ($1, $2)", 1, "ada@example.com"); err != nil {
		return err
	}
	var email string
	if err := db.QueryRowContext(ctx, "SELECT email FROM example_slog WHERE id = $1", 1).Scan(&email); err != nil {
		return err
	}
	// pg_sleep(0.1) takes at least 100 ms: logged at warn as "slow exec".
	if _, err := db.ExecContext(ctx, "SELECT pg_sleep(0.1)"); err != nil {
		return err
	}
	// A duplicate key: logged at error with its SQLSTATE; the server's message (which may quote
	// values) only with pgslog.WithErrorMessages.
	if _, err := db.ExecContext(ctx, "INSERT INTO example_slog VALUES ($1, $2)", 1, "bob@example.com"); err == nil {
		return errors.New("expected a unique violation")
	}
	return nil
}
