// Package suite holds the benchmark workloads and driver variants shared by the go test
// benchmarks in bench/ and the report command bench/cmd/benchreport: raw pgx stdlib,
// pgprovider with an empty chain and with five pass-through middlewares, XSAM/otelsql and
// ngrok/sqlmw, all over the same PostgreSQL server.
package suite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strings"
	"sync"

	"github.com/XSAM/otelsql"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/ngrok/sqlmw"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/middleware/metrics"
	pgotel "github.com/pgprovider/pgprovider/middleware/pgotel"
	"github.com/pgprovider/pgprovider/retry"
	"github.com/pgprovider/pgprovider/tenancy"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Variant is one way of opening a *sql.DB over PostgreSQL.
type Variant struct {
	// Name is short and has no spaces or slashes: it becomes part of a benchmark name.
	Name string
	// Doc describes the variant in one line for the report.
	Doc string
	// Open opens a *sql.DB for dsn.
	Open func(dsn string) (*sql.DB, error)
}

// Raw is the baseline variant's name.
const Raw = "raw"

// Control is the name of the A/A control variant: raw pgx stdlib again, measured like every
// other variant. Its ratio to raw is what the method reports for two identical drivers.
const Control = "raw2"

// Variants returns every variant, the baseline (raw pgx stdlib) first.
func Variants() []Variant {
	return []Variant{
		{Name: Raw, Doc: `pgx v5 stdlib, sql.Open("pgx", dsn)`, Open: openRaw},
		{Name: Control, Doc: "pgx v5 stdlib again, a second *sql.DB opened like raw: the A/A control, whose ratio to raw is the method's own bias and noise", Open: openRaw},
		{Name: "empty", Doc: "pgprovider.Open(dsn), no middleware", Open: openEmpty},
		{Name: "thin", Doc: "a do-nothing driver.Conn over pgx stdlib that forwards each call and returns pgx's own result sets (bench-only): the cost of one more layer of calls, a floor under any driver built on pgx stdlib", Open: openThin},
		{Name: "five", Doc: "pgprovider with five pass-through middleware.Wrappers (Exec, Query, Begin, Commit, RowsEnd)", Open: openFive},
		{Name: "otelsql-noop", Doc: "XSAM/otelsql over pgx stdlib, no-op tracer and meter", Open: openOtelNoop},
		{Name: "otelsql-sdk", Doc: "XSAM/otelsql over pgx stdlib, SDK tracer, always sample, dropping span processor", Open: openOtelSDK},
		{Name: "sqlmw", Doc: "ngrok/sqlmw over pgx stdlib, NullInterceptor", Open: openSqlmw},
		{Name: "pgotel-noop", Doc: "pgprovider with its OpenTelemetry middleware and no-op providers: no-op tracer, no metrics recorder (what the middleware costs before the application installs an SDK)", Open: openPgotelNoop},
		{Name: "pgotel-metrics", Doc: "pgprovider with its OpenTelemetry middleware, no-op tracer, metrics recorder on (the cost of the duration histograms alone)", Open: openPgotelMetrics},
		{Name: "retry", Doc: "pgprovider with retry.New() (happy path: nothing fails)", Open: openRetry},
		{Name: "tenancy", Doc: "pgprovider with tenancy.Schema, every statement under the same tenant (search_path set once per connection)", Open: openTenancy},
		{Name: "span-floor", Doc: "pgprovider with a bare middleware that only starts and ends one span per statement on the same SDK tracer (no attributes, no metrics, no transaction span): the cost of the OpenTelemetry SDK itself, a floor under any tracing middleware", Open: openSpanFloor},
		{Name: "pgotel-sdk", Doc: "pgprovider with its OpenTelemetry middleware, SDK tracer, always sample, root spans, dropping span processor, metrics recorder on", Open: openPgotelSDK},
	}
}

// Select keeps raw and the variants named in the comma-separated list (all when empty).
func Select(vs []Variant, names string) []Variant {
	if names == "" {
		return vs
	}
	keep := map[string]bool{Raw: true}
	for _, n := range strings.Split(names, ",") {
		keep[strings.TrimSpace(n)] = true
	}
	var out []Variant
	for _, v := range vs {
		if keep[v.Name] {
			out = append(out, v)
		}
	}
	return out
}

func openRetry(dsn string) (*sql.DB, error) {
	return pgprovider.Open(dsn, pgprovider.WithMiddleware(retry.New()))
}

// TenantSchema is the schema of the tenancy variant's one tenant; shared tables stay in public.
const TenantSchema = "bench_tenant"

func openTenancy(dsn string) (*sql.DB, error) {
	db, err := pgprovider.Open(dsn, pgprovider.WithMiddleware(
		tenancy.Schema(tenancy.WithDefaultTenant(TenantSchema), tenancy.WithShared("public"))))
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(tenancy.System(context.Background()), "CREATE SCHEMA IF NOT EXISTS "+TenantSchema); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func openPgotelNoop(dsn string) (*sql.DB, error) {
	return pgprovider.Open(dsn, pgprovider.WithMiddleware(pgotel.New(
		pgotel.WithTracerProvider(tracenoop.NewTracerProvider()))))
}

func openPgotelMetrics(dsn string) (*sql.DB, error) {
	return pgprovider.Open(dsn, pgprovider.WithMiddleware(pgotel.New(
		pgotel.WithTracerProvider(tracenoop.NewTracerProvider()), pgotel.WithRecorder(metrics.New()))))
}

func openPgotelSDK(dsn string) (*sql.DB, error) {
	return pgprovider.Open(dsn, pgprovider.WithMiddleware(pgotel.New(
		pgotel.WithTracerProvider(sdkTP()), pgotel.WithRootSpans(true), pgotel.WithRecorder(metrics.New()))))
}

// openSpanFloor measures what the OpenTelemetry SDK costs by itself: one span started before
// each statement and ended after it (for a query, when its result set ends), nothing else.
func openSpanFloor(dsn string) (*sql.DB, error) {
	tr := sdkTP().Tracer("span-floor")
	return pgprovider.Open(dsn, pgprovider.WithMiddleware(middleware.Wrappers{
		Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
				ctx, span := tr.Start(ctx, "statement", trace.WithSpanKind(trace.SpanKindClient))
				defer span.End()
				return next(ctx, s)
			}
		},
		Query: func(next middleware.QueryFunc) middleware.QueryFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
				ctx, span := tr.Start(ctx, "statement", trace.WithSpanKind(trace.SpanKindClient))
				rows, err := next(ctx, s)
				if err != nil {
					span.End()
				}
				return rows, err
			}
		},
		RowsEnd: func(next middleware.RowsEndFunc) middleware.RowsEndFunc {
			return func(ctx context.Context, e middleware.RowsEnd) error {
				err := next(ctx, e)
				trace.SpanFromContext(ctx).End()
				return err
			}
		},
	}))
}

func openRaw(dsn string) (*sql.DB, error) { return sql.Open("pgx", dsn) }

func openEmpty(dsn string) (*sql.DB, error) { return pgprovider.Open(dsn) }

func openFive(dsn string) (*sql.DB, error) {
	mws := make([]middleware.Middleware, 5)
	for i := range mws {
		mws[i] = PassThrough()
	}
	return pgprovider.Open(dsn, pgprovider.WithMiddleware(mws...))
}

// PassThrough returns a middleware that wraps Exec, Query, Begin, Commit and RowsEnd, each
// just calling next.
func PassThrough() middleware.Wrappers {
	return middleware.Wrappers{
		Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Result, error) { return next(ctx, s) }
		},
		Query: func(next middleware.QueryFunc) middleware.QueryFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) { return next(ctx, s) }
		},
		Begin: func(next middleware.BeginFunc) middleware.BeginFunc {
			return func(ctx context.Context, b middleware.Begin) error { return next(ctx, b) }
		},
		Commit: func(next middleware.CallFunc) middleware.CallFunc {
			return func(ctx context.Context, c middleware.Call) error { return next(ctx, c) }
		},
		RowsEnd: func(next middleware.RowsEndFunc) middleware.RowsEndFunc {
			return func(ctx context.Context, e middleware.RowsEnd) error { return next(ctx, e) }
		},
	}
}

func openOtelNoop(dsn string) (*sql.DB, error) {
	return otelsql.Open("pgx", dsn,
		otelsql.WithTracerProvider(tracenoop.NewTracerProvider()),
		otelsql.WithMeterProvider(metricnoop.NewMeterProvider()))
}

// dropProcessor is a span processor that drops every span: the SDK still samples, builds and
// ends each span, but nothing is exported.
type dropProcessor struct{}

func (dropProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (dropProcessor) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (dropProcessor) Shutdown(context.Context) error                  { return nil }
func (dropProcessor) ForceFlush(context.Context) error                { return nil }

var sdkTP = sync.OnceValue(func() *sdktrace.TracerProvider {
	return sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithSpanProcessor(dropProcessor{}))
})

func openOtelSDK(dsn string) (*sql.DB, error) {
	return otelsql.Open("pgx", dsn,
		otelsql.WithTracerProvider(sdkTP()),
		otelsql.WithMeterProvider(metricnoop.NewMeterProvider()))
}

const sqlmwDriver = "pgx-sqlmw-bench"

var registerSqlmw = sync.OnceFunc(func() {
	sql.Register(sqlmwDriver, sqlmw.Driver(stdlib.GetDefaultDriver(), sqlmw.NullInterceptor{}))
})

func openSqlmw(dsn string) (*sql.DB, error) {
	registerSqlmw()
	return sql.Open(sqlmwDriver, dsn)
}
