package pgotel_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware/metrics"
	"github.com/pgprovider/pgprovider/middleware/pgotel"
	"github.com/pgprovider/pgprovider/retry"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// One CLIENT span per operation, under the caller's span: a query's span ends when its result
// set ends, and the statements of a transaction are children of a "transaction" span. The
// spans are kept in memory here (tracetest.SpanRecorder) and printed as they end.
func ExampleNew() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	// The middleware exists before the Connector, so parse the DSN given to pgprovider.Open.
	cc, _ := pgx.ParseConfig("postgres://app@db.internal/shop")
	db, err := pgprovider.Open("", pgprovider.WithBackend(exampleServer{}),
		pgprovider.WithMiddleware(pgotel.New(pgotel.WithTracerProvider(tp), pgotel.WithConnConfig(cc))))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	ctx, handler := tp.Tracer("app").Start(context.Background(), "GET /orders")
	var n int
	_ = db.QueryRowContext(ctx, "SELECT count(*) FROM orders WHERE customer = $1", 7).Scan(&n)
	tx, _ := db.BeginTx(ctx, nil)
	_, _ = tx.ExecContext(ctx, "UPDATE orders SET seen = true WHERE customer = 7")
	_ = tx.Commit()
	_ = db.QueryRowContext(pgotel.WithSummary(ctx, "CountOrders"), "SELECT count(*) FROM orders").Scan(&n)
	handler.End()

	names := map[string]string{}
	for _, s := range spans.Ended() {
		names[s.SpanContext().SpanID().String()] = s.Name()
	}
	for _, s := range spans.Ended()[:5] { // the database spans; the handler's own ends last
		fmt.Printf("%s (%s, in %s)\n   ", s.Name(), s.SpanKind(), names[s.Parent().SpanID().String()])
		for _, kv := range s.Attributes() {
			fmt.Printf(" %s=%q", kv.Key, kv.Value.Emit())
		}
		fmt.Println()
	}
	// Output:
	// SELECT orders (client, in GET /orders)
	//     db.system.name="postgresql" server.address="db.internal" db.namespace="shop" db.operation.name="SELECT" db.query.summary="SELECT orders" db.query.text="SELECT count(*) FROM orders WHERE customer = $1"
	// UPDATE orders (client, in transaction)
	//     db.system.name="postgresql" server.address="db.internal" db.namespace="shop" db.operation.name="UPDATE" db.query.summary="UPDATE orders" db.query.text="UPDATE orders SET seen = true WHERE customer = ?"
	// COMMIT (client, in transaction)
	//     db.system.name="postgresql" server.address="db.internal" db.namespace="shop" db.operation.name="COMMIT" db.query.summary="COMMIT"
	// transaction (client, in GET /orders)
	//     db.system.name="postgresql" server.address="db.internal" db.namespace="shop"
	// CountOrders (client, in GET /orders)
	//     db.system.name="postgresql" server.address="db.internal" db.namespace="shop" db.operation.name="SELECT" db.query.summary="CountOrders" db.query.text="SELECT count(*) FROM orders"
}

// A retry middleware listed after the tracing middleware reports its attempts as events on
// the operation's span: one span covers every attempt.
func ExampleAddAttemptEvent() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	srv := &exampleServer{failures: 1}
	db, err := pgprovider.Open("", pgprovider.WithBackend(srv), pgprovider.WithMiddleware(
		pgotel.New(pgotel.WithTracerProvider(tp), pgotel.WithRootSpans(true)),
		retry.New(retry.WithInterval(time.Millisecond, 10*time.Millisecond),
			retry.WithOnAttempt(func(ctx context.Context, a retry.Attempt) {
				pgotel.AddAttemptEvent(ctx, a.N, a.Err)
			})),
	))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	_, _ = db.Exec("DELETE FROM sessions WHERE expired")

	for _, s := range spans.Ended() {
		fmt.Println(s.Name(), s.Status().Code)
		for _, e := range s.Events() {
			fmt.Print("    ", e.Name)
			for _, kv := range e.Attributes {
				fmt.Printf(" %s=%s", kv.Key, kv.Value.Emit())
			}
			fmt.Println()
		}
	}
	// Output:
	// DELETE sessions Unset
	//     db.attempt db.attempt=1 error.type=40001
	//     db.attempt db.attempt=2
}

// The producer exports the in-driver recorder (and *sql.DB pool statistics) to an
// OpenTelemetry SDK reader when it collects; operations only update the recorder's counters.
func ExampleNewProducer() {
	rec := metrics.New()
	db, err := pgprovider.Open("", pgprovider.WithBackend(exampleServer{}),
		pgprovider.WithMiddleware(pgotel.New(pgotel.WithRecorder(rec))))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(
		pgotel.NewProducer(rec, pgotel.WithPools(pgotel.Pool{Name: "primary", DB: db}))))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	for range 3 {
		_, _ = db.Exec("UPDATE counters SET n = n + 1")
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			line := m.Name
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == "db.client.operation.duration" {
				for _, dp := range h.DataPoints {
					op, _ := dp.Attributes.Value("db.operation.name")
					line += fmt.Sprintf(" %s×%d", op.Emit(), dp.Count)
				}
			}
			fmt.Println(line)
		}
	}
	// Output:
	// db.client.operation.duration UPDATE×3
	// db.client.connection.create_time
	// db.client.connection.use_time
	// db.client.connection.count
	// db.client.connection.max
	// db.client.connection.idle.max
	// db.client.connection.wait_time
}

// exampleServer stands in for PostgreSQL behind pgprovider.WithBackend: queries return one
// row, transactions commit, and the first failures statements fail with 40001.
type exampleServer struct{ failures int }

func (s exampleServer) Connect(context.Context) (driver.Conn, error) {
	return &exampleConn{failures: s.failures}, nil
}
func (exampleServer) Driver() driver.Driver { return nil }

type exampleConn struct{ failures int }

var errUnsupported = errors.New("not supported")

func (*exampleConn) Prepare(string) (driver.Stmt, error) { return nil, errUnsupported }
func (*exampleConn) Close() error                        { return nil }
func (c *exampleConn) Begin() (driver.Tx, error)         { return c, nil }
func (*exampleConn) Commit() error                       { return nil }
func (*exampleConn) Rollback() error                     { return nil }
func (*exampleConn) PrepareContext(context.Context, string) (driver.Stmt, error) {
	return nil, errUnsupported
}
func (c *exampleConn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) { return c, nil }
func (*exampleConn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	return &oneRow{}, nil
}
func (c *exampleConn) ExecContext(_ context.Context, sql string, _ []driver.NamedValue) (driver.Result, error) {
	if c.failures > 0 && !strings.HasPrefix(sql, "SELECT set_config") {
		c.failures--
		return nil, &pgconn.PgError{Severity: "ERROR", Code: "40001", Message: "could not serialize access"}
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
