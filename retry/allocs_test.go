package retry_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"testing"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/retry"
)

// nopConn is the cheapest backend the executor accepts: it isolates the chain's allocations.
// The time retry.New adds per statement is measured in bench/ (BenchmarkClient, variant retry).
type nopConn struct{}

func (nopConn) Prepare(string) (driver.Stmt, error) { return nil, driver.ErrSkip }
func (nopConn) Close() error                        { return nil }
func (nopConn) Begin() (driver.Tx, error)           { return nil, driver.ErrSkip }
func (nopConn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) {
	return nil, driver.ErrSkip
}
func (nopConn) PrepareContext(context.Context, string) (driver.Stmt, error) {
	return nil, driver.ErrSkip
}
func (nopConn) ExecContext(context.Context, string, []driver.NamedValue) (driver.Result, error) {
	return driver.RowsAffected(1), nil
}
func (nopConn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	return nil, driver.ErrSkip
}

type nopConnector struct{}

func (nopConnector) Connect(context.Context) (driver.Conn, error) { return nopConn{}, nil }
func (nopConnector) Driver() driver.Driver                        { return nil }

func nopDB(tb testing.TB, mws ...middleware.Middleware) *sql.DB {
	db, err := pgprovider.Open("", pgprovider.WithBackend(nopConnector{}), pgprovider.WithMiddleware(mws...))
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	return db
}

// On the happy path retry.New adds at most one allocation per statement.
func TestHappyPathAllocs(t *testing.T) {
	measure := func(mws ...middleware.Middleware) float64 {
		db := nopDB(t, mws...)
		defer db.Close()
		ctx := context.Background()
		return testing.AllocsPerRun(1000, func() { _, _ = db.ExecContext(ctx, "UPDATE t SET n = n + 1") })
	}
	empty, withRetry := measure(), measure(retry.New())
	t.Logf("allocs/op: empty chain %.0f, retry.New %.0f", empty, withRetry)
	if withRetry > empty+1 {
		t.Fatalf("retry.New allocates %.0f per op, the empty chain %.0f", withRetry, empty)
	}
}
