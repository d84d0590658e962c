// Command otel shows pgprovider's OpenTelemetry middleware: one CLIENT span per operation,
// printed by a small stdout exporter as each span ends, and the db.client.* metrics read
// from the in-driver recorder through pgotel.NewProducer, collected once and printed.
//
//	DATABASE_URL='postgres://user:pass@localhost:5432/db?sslmode=disable' go run ./examples/otel
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware/metrics"
	"github.com/pgprovider/pgprovider/middleware/pgotel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
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

func run(ctx context.Context, dsn string, out io.Writer) error {
	cc, err := pgx.ParseConfig(dsn) // server.address, server.port and db.namespace come from it
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spanPrinter{out})) // prints each span as it ends
	defer tp.Shutdown(context.Background())
	rec := metrics.New() // the in-driver recorder the middleware records into, read by the producer

	db, err := pgprovider.Open(dsn, pgprovider.WithMiddleware(
		pgotel.New(pgotel.WithTracerProvider(tp), pgotel.WithRecorder(rec), pgotel.WithConnConfig(cc)),
	))
	if err != nil {
		return err
	}
	defer db.Close()
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(
		pgotel.NewProducer(rec, pgotel.WithConnConfig(cc), pgotel.WithPools(pgotel.Pool{Name: "primary", DB: db}))))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	// Database spans need a parent span (pgotel.WithRootSpans lifts that): here, a "request".
	ctx, span := tp.Tracer("example").Start(ctx, "request")
	err = workload(ctx, db)
	span.End()
	if err != nil {
		return err
	}

	// Collect once, as a periodic reader of an exporter would, and print some points sorted.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		return err
	}
	var lines []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]: // db.client.operation.duration and others
				for _, dp := range d.DataPoints {
					if m.Name == "db.client.operation.duration" {
						lines = append(lines, fmt.Sprintf("metric %s{%s} count=%d", m.Name,
							attrs(dp.Attributes.ToSlice(), "db.operation.name", "error.type"), dp.Count))
					}
				}
			case metricdata.Sum[int64]: // db.client.connection.count and others
				for _, dp := range d.DataPoints {
					if m.Name == "db.client.connection.count" {
						lines = append(lines, fmt.Sprintf("metric %s{%s} %d", m.Name,
							attrs(dp.Attributes.ToSlice(), "db.client.connection.state"), dp.Value))
					}
				}
			}
		}
	}
	slices.Sort(lines)
	fmt.Fprintln(out, strings.Join(lines, "\n"))
	return nil
}

// workload runs a few statements: a failing one, and a transaction with a named query.
func workload(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, "CREATE TEMP TABLE example_otel (id int PRIMARY KEY, name text)"); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO example_otel VALUES ($1, $2)", 1, "first"); err != nil {
		return err
	}
	// A duplicate: its span has status Error and db.response.status_code=23505.
	if _, err := db.ExecContext(ctx, "INSERT INTO example_otel VALUES ($1, $2)", 1, "again"); err == nil {
		return errors.New("expected a unique violation")
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	// pgotel.WithSummary names the span (a low-cardinality name, never values).
	if err := tx.QueryRowContext(pgotel.WithSummary(ctx, "CountItems"), "SELECT count(*) FROM example_otel").Scan(&n); err != nil {
		return err
	}
	return tx.Commit()
}

// spanPrinter is a trace exporter that prints each span on one line: its name, kind, status,
// its parent's span id and its own, and a few attributes.
type spanPrinter struct{ w io.Writer }

func (p spanPrinter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	for _, s := range spans {
		line := fmt.Sprintf("span %q kind=%s status=%s parent=%s id=%s %s", s.Name(), s.SpanKind(),
			s.Status().Code, s.Parent().SpanID(), s.SpanContext().SpanID(),
			attrs(s.Attributes(), "db.operation.name", "db.query.text", "db.response.status_code"))
		_, err := fmt.Fprintln(p.w, strings.TrimSpace(line))
		if err != nil {
			return err
		}
	}
	return nil
}

func (spanPrinter) Shutdown(context.Context) error { return nil }

// attrs formats the attributes of kvs named in keys as k=v, in the order of keys.
func attrs(kvs []attribute.KeyValue, keys ...string) string {
	var parts []string
	for _, k := range keys {
		if i := slices.IndexFunc(kvs, func(kv attribute.KeyValue) bool { return string(kv.Key) == k }); i >= 0 {
			parts = append(parts, fmt.Sprintf("%s=%q", k, kvs[i].Value.Emit()))
		}
	}
	return strings.Join(parts, " ")
}
