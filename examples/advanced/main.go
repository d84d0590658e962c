// Command advanced puts pgprovider's middleware together on one *sql.DB: OpenTelemetry
// tracing, slog logging correlated with the spans, Prometheus metrics fed by the same
// in-driver recorder as the OpenTelemetry middleware (so nothing is measured twice), retry,
// and a middleware written by the user. It runs a few statements against DATABASE_URL,
// prints what each part observed and exits. examples/otel, examples/prometheus and
// examples/slog show each part alone.
package main

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/middleware/metrics"
	"github.com/pgprovider/pgprovider/middleware/pgotel"
	"github.com/pgprovider/pgprovider/middleware/pgprom"
	"github.com/pgprovider/pgprovider/middleware/pgslog"
	"github.com/pgprovider/pgprovider/retry"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
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

// defaultTimeout is a middleware written by the user: it bounds every statement without rows
// to d when the caller set no deadline or a later one, and counts the statements it bounded.
type defaultTimeout struct {
	d     time.Duration
	given atomic.Int64
}

// Wrappers wraps statements without rows (Exec); the other operations pass it by.
func (t *defaultTimeout) Wrappers(middleware.Connector) middleware.Wrappers {
	return middleware.Wrappers{Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
		return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
			if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > t.d {
				t.given.Add(1)
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, t.d)
				defer cancel()
			}
			return next(ctx, s)
		}
	}}
}

func run(ctx context.Context, dsn string, out io.Writer) error {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())
	rec := metrics.New()
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{ReplaceAttr: noTime})) // info and above
	timeouts := &defaultTimeout{d: 5 * time.Second}

	// First listed is outermost: observers, then retry, then the user's middleware, which runs
	// once per attempt.
	db, err := pgprovider.Open(dsn, pgprovider.WithMiddleware(
		pgotel.New(pgotel.WithTracerProvider(tp), pgotel.WithRecorder(rec)),
		pgslog.New(logger),
		retry.New(),
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

	ctx, span := tp.Tracer("example").Start(ctx, "request")
	fmt.Fprintf(out, "request trace_id=%s\n", span.SpanContext().TraceID())
	if _, err := db.ExecContext(ctx, "SELECT 1"); err != nil {
		span.End()
		return err
	}
	_, err = db.ExecContext(ctx, "SELECT 1/0") // logged at error with the trace_id and span_id of its span
	span.End()
	if err == nil {
		return errors.New("expected a division by zero")
	}

	for _, s := range spans.Ended() {
		fmt.Fprintf(out, "span %q status=%s\n", s.Name(), s.Status().Code)
	}
	fmt.Fprintf(out, "defaultTimeout bounded %d statements to %s\n", timeouts.given.Load(), timeouts.d)

	// What a Prometheus scrape would return (examples/prometheus serves it over HTTP).
	w := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(w.Body.String(), "\n") {
		if strings.HasPrefix(line, "pgprovider_operation_duration_seconds_count") || strings.HasPrefix(line, "pgprovider_operation_errors_total") {
			fmt.Fprintln(out, "metric", line)
		}
	}
	return nil
}
