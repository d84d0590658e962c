package pgprovider_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"log"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
)

// Open a database with a middleware that logs slow statements.
func ExampleOpen() {
	slow := middleware.Wrappers{Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
		return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
			start := time.Now()
			res, err := next(ctx, s)
			if d := time.Since(start); d > 100*time.Millisecond {
				log.Printf("slow %s (%s): %s", s.Op, d, s.SQL)
			}
			return res, err
		}
	}}
	db, err := pgprovider.Open("postgres://app@localhost/app", pgprovider.WithMiddleware(slow))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
}

// Register a configured variant under its own driver name, for GORM's DriverName or sqlx.
func ExampleRegister() {
	err := pgprovider.Register("pgprovider-iam", pgprovider.WithBeforeConnect(func(ctx context.Context, c *pgx.ConnConfig) error {
		c.Password = "token fetched for this connection"
		return nil
	}))
	if err != nil {
		log.Fatal(err)
	}
	db, _ := sql.Open("pgprovider-iam", "host=db user=app dbname=app")
	defer db.Close()
}

// Copy rows with pgx through a database/sql connection.
func ExampleRaw() {
	db, _ := sql.Open("pgprovider", "postgres://app@localhost/app")
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	err = pgprovider.Raw(ctx, conn, func(ctx context.Context, pc *pgx.Conn) error {
		_, err := pc.CopyFrom(ctx, pgx.Identifier{"items"}, []string{"name"}, pgx.CopyFromRows([][]any{{"a"}, {"b"}}))
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
}

// Tell "not applied" from "maybe applied" after a lost connection.
func ExampleOutcomeUnknownError() {
	db, _ := sql.Open("pgprovider", "postgres://app@localhost/app")
	_, err := db.Exec("UPDATE accounts SET balance = balance - 10 WHERE id = 1")
	var unknown *pgerror.OutcomeUnknownError
	switch {
	case errors.As(err, &unknown):
		log.Printf("the %s may have been applied: check before trying again (%v)", unknown.Op, unknown.Err)
	case err != nil:
		log.Printf("not applied: %v", err)
	}
}
