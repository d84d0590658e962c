package pgerror_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
)

// Classify works on a bare server error, wrapped by any layer.
func ExampleClassify() {
	err := fmt.Errorf("create user: %w", &pgconn.PgError{Code: "23505", ConstraintName: "users_email_key"})
	if pgerror.Classify(err) == pgerror.UniqueViolation {
		fmt.Println("duplicate:", pgerror.Constraint(err))
	}
	fmt.Println(pgerror.Classify(&pgconn.PgError{Code: "40P01"}).Retryable())
	// Output:
	// duplicate: users_email_key
	// true
}

// With the middleware (or Wrap), plain errors.Is matches the class and errors.As still
// extracts the *pgconn.PgError from the same value.
func ExampleWrap() {
	err := pgerror.Wrap(&pgconn.PgError{Severity: "ERROR", Code: "40001", Message: "could not serialize access"})
	var pgErr *pgconn.PgError
	fmt.Println(errors.Is(err, pgerror.Serialization), errors.As(err, &pgErr), err)
	// Output: true true ERROR: could not serialize access (SQLSTATE 40001)
}

// The middleware classifies the errors the driver returns, so application code matches
// classes with errors.Is; the server error keeps its message and its type.
func ExampleMiddleware() {
	db, err := pgprovider.Open("", pgprovider.WithBackend(uniqueServer{}),
		pgprovider.WithMiddleware(pgerror.Middleware()))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	_, err = db.Exec("INSERT INTO users (email) VALUES ($1)", "ann@example.com")
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgerror.UniqueViolation):
		fmt.Println("taken:", pgerror.Constraint(err), errors.As(err, &pgErr))
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println(err)
	// Output:
	// taken: users_email_key true
	// ERROR: duplicate key value violates unique constraint "users_email_key" (SQLSTATE 23505)
}

// Tell "not applied" from "maybe applied" after a lost connection: an operation whose answer
// was lost with the connection matches OutcomeUnknown, and is neither retryable nor run again
// by the driver.
func ExampleOutcomeUnknownError() {
	var err error = &pgerror.OutcomeUnknownError{Op: middleware.OpExec, Err: io.ErrUnexpectedEOF}
	err = fmt.Errorf("debit account: %w", err) // as returned by db.Exec and wrapped by the caller

	var unknown *pgerror.OutcomeUnknownError
	switch {
	case errors.As(err, &unknown):
		fmt.Printf("the %s may have been applied: check before trying again (%v)\n", unknown.Op, unknown.Err)
	case err != nil:
		fmt.Println("not applied:", err)
	}
	fmt.Println(errors.Is(err, pgerror.OutcomeUnknown), pgerror.Classify(err).Retryable())
	// Output:
	// the exec may have been applied: check before trying again (unexpected EOF)
	// true false
}

// uniqueServer stands in for PostgreSQL behind pgprovider.WithBackend: every statement fails
// with a unique violation.
type uniqueServer struct{}

func (uniqueServer) Connect(context.Context) (driver.Conn, error) { return uniqueConn{}, nil }
func (uniqueServer) Driver() driver.Driver                        { return nil }

type uniqueConn struct{}

var errUnsupported = errors.New("not supported")

func (uniqueConn) Prepare(string) (driver.Stmt, error) { return nil, errUnsupported }
func (uniqueConn) Close() error                        { return nil }
func (uniqueConn) Begin() (driver.Tx, error)           { return nil, errUnsupported }
func (uniqueConn) PrepareContext(context.Context, string) (driver.Stmt, error) {
	return nil, errUnsupported
}
func (uniqueConn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) {
	return nil, errUnsupported
}
func (uniqueConn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	return nil, errUnsupported
}
func (uniqueConn) ExecContext(context.Context, string, []driver.NamedValue) (driver.Result, error) {
	return nil, &pgconn.PgError{Severity: "ERROR", Code: "23505", ConstraintName: "users_email_key",
		Message: `duplicate key value violates unique constraint "users_email_key"`}
}
