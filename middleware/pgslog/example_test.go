package pgslog_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"log"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/middleware/pgslog"
)

// Log every operation once, when it ends: a query when its result set ends, with the rows
// read. Literals of a text without $n placeholders are replaced by "?", arguments are counted,
// not logged, and a server error is logged by SQLSTATE without its message (which may quote
// values). The handler here drops the time and the duration so that the output is stable.
func ExampleNew() {
	h := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "duration" {
				return slog.Attr{}
			}
			return a
		},
	})
	logger := pgslog.New(slog.New(h),
		pgslog.WithLevel(middleware.OpConnect, slog.LevelDebug),
		pgslog.WithSlowThreshold(time.Second))
	db, err := pgprovider.Open("", pgprovider.WithBackend(exampleServer{}), pgprovider.WithMiddleware(logger))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()

	var name string
	_ = db.QueryRowContext(ctx, "SELECT name FROM users WHERE id = $1", 42).Scan(&name)
	_, _ = db.ExecContext(ctx, "UPDATE users SET name = 'ann' WHERE id = 42")
	_, _ = db.ExecContext(ctx, "INSERT INTO users (id) VALUES ($1)", 42)
	// Output:
	// level=DEBUG msg=connect db.system.name=postgresql
	// level=DEBUG msg=query db.system.name=postgresql db.operation.name=SELECT db.query.summary="SELECT users" db.query.text="SELECT name FROM users WHERE id = $1" db.query.parameter_count=1 db.response.returned_rows=1
	// level=DEBUG msg=exec db.system.name=postgresql db.operation.name=UPDATE db.query.summary="UPDATE users" db.query.text="UPDATE users SET name = ? WHERE id = ?"
	// level=ERROR msg=exec db.system.name=postgresql db.operation.name=INSERT db.query.summary="INSERT users" db.query.text="INSERT INTO users (id) VALUES ($1)" db.query.parameter_count=1 db.response.status_code=23505 error.type=23505
}

// exampleServer stands in for PostgreSQL behind pgprovider.WithBackend: a query returns one
// row, an INSERT fails with a unique violation, anything else succeeds.
type exampleServer struct{}

func (exampleServer) Connect(context.Context) (driver.Conn, error) { return exampleConn{}, nil }
func (exampleServer) Driver() driver.Driver                        { return nil }

type exampleConn struct{}

var errUnsupported = errors.New("not supported")

func (exampleConn) Prepare(string) (driver.Stmt, error) { return nil, errUnsupported }
func (exampleConn) Close() error                        { return nil }
func (exampleConn) Begin() (driver.Tx, error)           { return nil, errUnsupported }
func (exampleConn) PrepareContext(context.Context, string) (driver.Stmt, error) {
	return nil, errUnsupported
}
func (exampleConn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) {
	return nil, errUnsupported
}
func (exampleConn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	return &oneRow{}, nil
}
func (exampleConn) ExecContext(_ context.Context, sql string, _ []driver.NamedValue) (driver.Result, error) {
	if strings.HasPrefix(sql, "INSERT") {
		return nil, &pgconn.PgError{Severity: "ERROR", Code: "23505", Message: "duplicate key value violates unique constraint"}
	}
	return driver.RowsAffected(1), nil
}

type oneRow struct{ done bool }

func (*oneRow) Columns() []string { return []string{"name"} }
func (*oneRow) Close() error      { return nil }
func (r *oneRow) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done, dest[0] = true, "ann"
	return nil
}
