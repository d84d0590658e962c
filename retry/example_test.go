package retry_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
	"github.com/pgprovider/pgprovider/retry"
)

// Retry autocommit statements: serialization failures, deadlocks, a backend terminated while
// idle, connection establishment. WithOnAttempt sees every failed attempt (and the retried
// attempt that succeeded); the first attempt that succeeds reports nothing.
func ExampleNew() {
	srv := &flakyServer{fails: 2, err: &pgconn.PgError{Code: "40001", Message: "could not serialize access"}}
	db, err := pgprovider.Open("", pgprovider.WithBackend(srv), pgprovider.WithMiddleware(retry.New(
		retry.WithMaxAttempts(4),
		retry.WithInterval(time.Millisecond, 100*time.Millisecond),
		retry.WithJitter(0),
		retry.WithOnAttempt(func(ctx context.Context, a retry.Attempt) {
			fmt.Printf("attempt %d: %s, retry: %v in %v\n", a.N, pgerror.Classify(a.Err).String(), a.Retry, a.Delay)
		}),
	)))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	_, err = db.Exec("UPDATE accounts SET n = n + 1 WHERE id = 1")
	fmt.Println("error:", err)
	// Output:
	// server runs: UPDATE accounts SET n = n + 1 WHERE id = 1 (fails)
	// attempt 1: serialization_failure, retry: true in 1ms
	// server runs: UPDATE accounts SET n = n + 1 WHERE id = 1 (fails)
	// attempt 2: serialization_failure, retry: true in 2ms
	// server runs: UPDATE accounts SET n = n + 1 WHERE id = 1
	// attempt 3: none, retry: false in 0s
	// error: <nil>
}

// A statement whose connection broke after it was sent may have been applied: the middleware
// retries it only when its context says it is safe to run twice.
func ExampleIdempotent() {
	srv := &flakyServer{err: &pgerror.OutcomeUnknownError{Op: middleware.OpExec, Err: io.ErrUnexpectedEOF}}
	db, err := pgprovider.Open("", pgprovider.WithBackend(srv), pgprovider.WithMiddleware(retry.New(
		retry.WithInterval(time.Millisecond, 100*time.Millisecond))))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()

	srv.fails = 1
	_, err = db.ExecContext(ctx, "UPDATE accounts SET n = n + 1 WHERE id = 1")
	fmt.Println("outcome unknown:", errors.Is(err, pgerror.OutcomeUnknown))

	srv.fails = 1
	_, err = db.ExecContext(retry.Idempotent(ctx), "UPDATE accounts SET n = 7 WHERE id = 1")
	fmt.Println("error:", err)
	// Output:
	// server runs: UPDATE accounts SET n = n + 1 WHERE id = 1 (fails)
	// outcome unknown: true
	// server runs: UPDATE accounts SET n = 7 WHERE id = 1 (fails)
	// server runs: UPDATE accounts SET n = 7 WHERE id = 1
	// error: <nil>
}

// Run a whole transaction again on serialization failures: a new BEGIN, the closure, COMMIT.
// A COMMIT whose outcome is unknown is reported (errors.Is(err, retry.ErrCommitOutcomeUnknown)),
// never run again.
func ExampleTx() {
	srv := &flakyServer{fails: 1, err: &pgconn.PgError{Code: "40001", Message: "could not serialize access"}}
	db, err := pgprovider.Open("", pgprovider.WithBackend(srv))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	err = retry.Tx(ctx, db, &sql.TxOptions{Isolation: sql.LevelSerializable}, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance - 10 WHERE id = 1"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance + 10 WHERE id = 2")
		return err
	}, retry.WithInterval(time.Millisecond, 100*time.Millisecond))
	fmt.Println("error:", err)
	// Output:
	// server runs: BEGIN
	// server runs: UPDATE accounts SET balance = balance - 10 WHERE id = 1 (fails)
	// server runs: ROLLBACK
	// server runs: BEGIN
	// server runs: UPDATE accounts SET balance = balance - 10 WHERE id = 1
	// server runs: UPDATE accounts SET balance = balance + 10 WHERE id = 2
	// server runs: COMMIT
	// error: <nil>
}

// Middleware listed after retry (and pgx tracers) read the attempt a context belongs to.
func ExampleAttemptFrom() {
	srv := &flakyServer{fails: 1, err: &pgconn.PgError{Code: "40P01", Message: "deadlock detected"}}
	show := middleware.Wrappers{Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
		return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
			fmt.Println("attempt", retry.AttemptFrom(ctx))
			return next(ctx, s)
		}
	}}
	db, err := pgprovider.Open("", pgprovider.WithBackend(srv), pgprovider.WithMiddleware(
		retry.New(retry.WithInterval(time.Millisecond, 100*time.Millisecond)), show))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	_, _ = db.Exec("DELETE FROM sessions WHERE expired")
	// Output:
	// attempt 1
	// server runs: DELETE FROM sessions WHERE expired (fails)
	// attempt 2
	// server runs: DELETE FROM sessions WHERE expired
}

// flakyServer stands in for PostgreSQL behind pgprovider.WithBackend: it prints what it runs,
// and its next fails statements fail with err.
type flakyServer struct {
	fails int
	err   error
}

func (s *flakyServer) Connect(context.Context) (driver.Conn, error) { return flakyConn{s}, nil }
func (*flakyServer) Driver() driver.Driver                          { return nil }

type flakyConn struct{ s *flakyServer }

var errUnsupported = errors.New("not supported")

func (flakyConn) Prepare(string) (driver.Stmt, error) { return nil, errUnsupported }
func (flakyConn) Close() error                        { return nil }
func (c flakyConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}
func (flakyConn) PrepareContext(context.Context, string) (driver.Stmt, error) {
	return nil, errUnsupported
}
func (flakyConn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	return nil, errUnsupported
}
func (c flakyConn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) {
	fmt.Println("server runs: BEGIN")
	return c, nil
}
func (flakyConn) Commit() error   { fmt.Println("server runs: COMMIT"); return nil }
func (flakyConn) Rollback() error { fmt.Println("server runs: ROLLBACK"); return nil }
func (c flakyConn) ExecContext(_ context.Context, sql string, _ []driver.NamedValue) (driver.Result, error) {
	if c.s.fails > 0 {
		c.s.fails--
		fmt.Println("server runs:", sql, "(fails)")
		return nil, c.s.err
	}
	fmt.Println("server runs:", sql)
	return driver.RowsAffected(1), nil
}
