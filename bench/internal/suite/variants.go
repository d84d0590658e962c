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
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/ngrok/sqlmw"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/middleware/metrics"
	pgotel "github.com/pgprovider/pgprovider/middleware/pgotel"
	"github.com/pgprovider/pgprovider/retry"
	"github.com/pgprovider/pgprovider/tenancy"
	"go.opentelemetry.io/otel/attribute"
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
		{Name: "span-floor", Doc: "pgprovider with a bare middleware that starts and ends, on the same SDK tracer, the spans pgotel emits (one per statement; for a transaction one from BEGIN to COMMIT and a COMMIT span), without attributes or metrics: the cost of the OpenTelemetry SDK itself, a floor under any tracing middleware", Open: openSpanFloor},
		{Name: "span-floor-attrs", Doc: "span-floor with the semantic-convention attributes pgotel gives each span, computed once per text: the SDK's own cost for what pgotel records, without pgotel's work", Open: openSpanFloorAttrs},
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

// openSpanFloor measures what the OpenTelemetry SDK costs by itself for the spans pgotel
// emits, bare: one span per statement (for a query, ended when its result set ends) and, for
// a transaction, a span from BEGIN to its end with a child span for COMMIT or ROLLBACK; no
// attributes, no metrics.
func openSpanFloor(dsn string) (*sql.DB, error) { return openFloor(dsn, false) }

// openSpanFloorAttrs is openSpanFloor with the attributes pgotel gives each span (the
// database semantic conventions' db.system.name, db.namespace, db.operation.name,
// db.query.summary, db.query.text, server.address, server.port), computed once per
// statement text: the SDK's own cost for what pgotel records, without pgotel's work.
func openSpanFloorAttrs(dsn string) (*sql.DB, error) { return openFloor(dsn, true) }

type floorTxKey struct{}

func openFloor(dsn string, attrs bool) (*sql.DB, error) {
	tr := sdkTP().Tracer("span-floor")
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	base := []attribute.KeyValue{attribute.String("db.system.name", "postgresql"),
		attribute.String("db.namespace", cc.Database), attribute.String("server.address", cc.Host)}
	if cc.Port != 5432 {
		base = append(base, attribute.Int("server.port", int(cc.Port)))
	}
	var cache sync.Map // SQL text -> []trace.SpanStartOption
	kind := trace.WithSpanKind(trace.SpanKindClient)
	opts := func(sql string) []trace.SpanStartOption {
		if !attrs {
			return []trace.SpanStartOption{kind}
		}
		if v, ok := cache.Load(sql); ok {
			return v.([]trace.SpanStartOption)
		}
		op, _, _ := strings.Cut(strings.TrimSpace(sql), " ")
		op = strings.ToUpper(op)
		kv := append(append([]attribute.KeyValue(nil), base...), attribute.String("db.operation.name", op),
			attribute.String("db.query.summary", op), attribute.String("db.query.text", sql))
		o := []trace.SpanStartOption{kind, trace.WithAttributes(kv...)}
		cache.Store(sql, o)
		return o
	}
	bare := opts("") // BEGIN's and COMMIT's options: no statement text
	if attrs {
		bare = []trace.SpanStartOption{kind, trace.WithAttributes(base...)}
	}
	// parent is the transaction span for a statement inside one, else ctx itself.
	parent := func(ctx context.Context, s middleware.Session) context.Context {
		if s != nil && s.InTx() {
			if span, ok := s.TxValue(floorTxKey{}).(trace.Span); ok {
				return trace.ContextWithSpan(ctx, span)
			}
		}
		return ctx
	}
	end := func(next middleware.CallFunc, name string) middleware.CallFunc {
		return func(ctx context.Context, c middleware.Call) error {
			tx, _ := ctx.Value(floorTxKey{}).(trace.Span)
			if tx != nil {
				ctx = trace.ContextWithSpan(ctx, tx)
			}
			sctx, span := tr.Start(ctx, name, bare...)
			err := next(sctx, c)
			span.End()
			if tx != nil {
				tx.End()
			}
			return err
		}
	}
	return pgprovider.Open(dsn, pgprovider.WithMiddleware(middleware.Wrappers{
		Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
				ctx, span := tr.Start(parent(ctx, s.Session), "statement", opts(s.SQL)...)
				defer span.End()
				return next(ctx, s)
			}
		},
		Query: func(next middleware.QueryFunc) middleware.QueryFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
				ctx, span := tr.Start(parent(ctx, s.Session), "statement", opts(s.SQL)...)
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
		Begin: func(next middleware.BeginFunc) middleware.BeginFunc {
			return func(ctx context.Context, b middleware.Begin) error {
				ctx, span := tr.Start(ctx, "transaction", bare...)
				err := next(context.WithValue(ctx, floorTxKey{}, span), b)
				if err != nil {
					span.End()
				}
				return err
			}
		},
		Commit:   func(next middleware.CallFunc) middleware.CallFunc { return end(next, "COMMIT") },
		Rollback: func(next middleware.CallFunc) middleware.CallFunc { return end(next, "ROLLBACK") },
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
