package pgprom_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware/metrics"
	"github.com/pgprovider/pgprovider/middleware/pgprom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Register one collector per pool: pool gauges come from the *sql.DB, operation metrics from
// the in-driver recorder, both read when Prometheus scrapes. Serve reg with
// promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).
func ExampleRegister() {
	rec := metrics.New()
	db, err := pgprovider.Open("", pgprovider.WithBackend(exampleServer{}), pgprovider.WithMiddleware(rec))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(10)

	reg := prometheus.NewRegistry()
	if _, err := pgprom.Register(reg, db, pgprom.WithRecorder(rec)); err != nil {
		log.Fatal(err)
	}
	_, _ = db.Exec("UPDATE counters SET n = n + 1")
	_, _ = db.Exec("INSERT INTO users (email) VALUES ('ann@example.com')")

	err = testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP pgprovider_operation_errors_total Failed operations by SQLSTATE class (or a short error type when the server did not answer).
# TYPE pgprovider_operation_errors_total counter
pgprovider_operation_errors_total{operation="INSERT",pool="primary",sqlstate_class="23"} 1
# HELP pgprovider_pool_max_open_connections Maximum number of open connections to the database (0: unlimited).
# TYPE pgprovider_pool_max_open_connections gauge
pgprovider_pool_max_open_connections{pool="primary"} 10
`), "pgprovider_operation_errors_total", "pgprovider_pool_max_open_connections")
	if err != nil {
		fmt.Println(err)
	}
	fmt.Println("metrics as expected:", err == nil)

	// A second collector for the same pool name in the same registry is refused.
	_, err = pgprom.Register(reg, db)
	fmt.Println("registered twice:", err != nil)
	// Output:
	// metrics as expected: true
	// registered twice: true
}

// exampleServer stands in for PostgreSQL behind pgprovider.WithBackend: an INSERT fails with
// a unique violation, anything else succeeds.
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

func (*oneRow) Columns() []string { return []string{"n"} }
func (*oneRow) Close() error      { return nil }
func (r *oneRow) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done, dest[0] = true, int64(1)
	return nil
}
