// Command advanced shows pgprovider's middleware, hooks and monitoring together: OpenTelemetry
// tracing printed to stdout, Prometheus metrics served on loopback at /metrics, slog logging,
// and a middleware written by the user. It runs a few statements against DATABASE_URL, prints
// what it observed and exits.
package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/middleware/metrics"
	pgotel "github.com/pgprovider/pgprovider/middleware/pgotel"
	pgprom "github.com/pgprovider/pgprovider/middleware/pgprom"
	pgslog "github.com/pgprovider/pgprovider/middleware/pgslog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func main() {
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		fmt.Fprintln(os.Stderr, "set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, dsn, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "advanced:", err)
		os.Exit(1)
	}
}

// stdoutExporter prints each finished span as one JSON line: name, parent, attributes.
type stdoutExporter struct{ w io.Writer }

// ExportSpans prints spans.
func (e stdoutExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	for _, s := range spans {
		attrs := map[string]string{}
		for _, kv := range s.Attributes() {
			attrs[string(kv.Key)] = kv.Value.Emit()
		}
		line, err := json.Marshal(map[string]any{
			"span": s.Name(), "span_id": s.SpanContext().SpanID().String(), "parent_id": s.Parent().SpanID().String(),
			"status": s.Status().Code.String(), "duration": s.EndTime().Sub(s.StartTime()).String(), "attributes": attrs,
		})
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(e.w, "trace: %s\n", line); err != nil {
			return err
		}
	}
	return nil
}

// Shutdown does nothing.
func (stdoutExporter) Shutdown(context.Context) error { return nil }

// defaultTimeout is a middleware written by the user: it gives every statement a deadline
// when the caller set none, and counts the statements it saw.
type defaultTimeout struct {
	d     time.Duration
	count atomic.Int64
}

// Wrappers wraps statements without rows.
func (t *defaultTimeout) Wrappers() middleware.Wrappers {
	return middleware.Wrappers{Exec: t.exec}
}

// exec adds the default deadline to statements without rows.
func (t *defaultTimeout) exec(next middleware.ExecFunc) middleware.ExecFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
		t.count.Add(1)
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, t.d)
			defer cancel()
		}
		return next(ctx, s)
	}
}

func run(ctx context.Context, dsn string, out io.Writer) error {
	cc, err := pgx.ParseConfig(dsn) // server.address and port come from the parsed configuration
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(stdoutExporter{out}))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	rec := metrics.New()
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	timeouts := &defaultTimeout{d: 5 * time.Second}

	db, err := pgprovider.Open(dsn, pgprovider.WithMiddleware(
		pgotel.New(pgotel.WithTracerProvider(tp), pgotel.WithRecorder(rec), pgotel.WithConnConfig(cc)),
		pgslog.New(logger, pgslog.WithConnConfig(cc), pgslog.WithSlowThreshold(100*time.Millisecond)),
		timeouts,
	))
	if err != nil {
		return err
	}
	defer db.Close()

	reg := prometheus.NewRegistry()
	if _, err := pgprom.Register(reg, db, pgprom.WithRecorder(rec)); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	fmt.Fprintf(out, "metrics: http://%s/metrics\n", ln.Addr())

	ctx, span := tp.Tracer("example").Start(ctx, "request")
	err = workload(ctx, db)
	span.End()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "custom middleware saw %d exec statements\n", timeouts.count.Load())
	return printMetrics(ctx, out, "http://"+ln.Addr().String()+"/metrics")
}

func workload(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, "CREATE TEMP TABLE IF NOT EXISTS example_items (id int PRIMARY KEY, name text)"); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO example_items VALUES ($1, $2) ON CONFLICT DO NOTHING", 1, "first"); err != nil {
		return err
	}
	// A failed insert: the span carries db.response.status_code=23505 and error.type=23505.
	if _, err := db.ExecContext(ctx, "INSERT INTO example_items VALUES ($1, $2)", 1, "again"); err == nil {
		return errors.New("expected a unique violation")
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	var n int
	if err := tx.QueryRowContext(pgotel.WithSummary(ctx, "CountItems"), "SELECT count(*) FROM example_items").Scan(&n); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func printMetrics(ctx context.Context, out io.Writer, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "pgprovider_operation_duration_seconds_count") || strings.HasPrefix(line, "pgprovider_operation_errors_total") ||
			strings.HasPrefix(line, "pgprovider_pool_open_connections") {
			fmt.Fprintln(out, "metric:", line)
		}
	}
	return nil
}
