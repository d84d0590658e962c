package metrics_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware/metrics"
	"github.com/pgprovider/pgprovider/middleware/pgprom"
	"github.com/pgprovider/pgprovider/retry"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// List the Recorder in the chain when no tracing middleware feeds it, and wire retry attempts
// to it; export it with package pgprom (or pgotel.NewProducer). Listed outside retry, it
// measures one operation per statement, however many attempts it took.
func ExampleNew() {
	rec := metrics.New()
	db, err := pgprovider.Open("", pgprovider.WithBackend(&exampleServer{failures: 1}), pgprovider.WithMiddleware(
		rec,
		retry.New(retry.WithInterval(time.Millisecond, 10*time.Millisecond),
			retry.WithOnAttempt(func(_ context.Context, a retry.Attempt) {
				if a.Retry {
					rec.AddAttempts(1)
				}
			})),
	))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	_, _ = db.Exec("UPDATE counters SET n = n + 1")

	reg := prometheus.NewRegistry()
	reg.MustRegister(pgprom.NewCollector(nil, pgprom.WithRecorder(rec)))
	n, err := testutil.GatherAndCount(reg, "pgprovider_operation_duration_seconds")
	fmt.Println("operation series:", n, err)
	err = testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP pgprovider_retry_attempts_total Retry attempts beyond the first, as reported by retry middleware.
# TYPE pgprovider_retry_attempts_total counter
pgprovider_retry_attempts_total{pool="primary"} 1
`), "pgprovider_retry_attempts_total")
	fmt.Println("retry attempts as expected:", err == nil)
	// Output:
	// operation series: 1 <nil>
	// retry attempts as expected: true
}

// exampleServer stands in for PostgreSQL behind pgprovider.WithBackend: the first failures
// statements fail with 40001, the others succeed.
type exampleServer struct{ failures int }

func (s *exampleServer) Connect(context.Context) (driver.Conn, error) { return exampleConn{s}, nil }
func (*exampleServer) Driver() driver.Driver                          { return nil }

type exampleConn struct{ s *exampleServer }

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
	return nil, errUnsupported
}
func (c exampleConn) ExecContext(context.Context, string, []driver.NamedValue) (driver.Result, error) {
	if c.s.failures > 0 {
		c.s.failures--
		return nil, &pgconn.PgError{Severity: "ERROR", Code: "40001", Message: "could not serialize access"}
	}
	return driver.RowsAffected(1), nil
}
