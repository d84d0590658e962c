package otelbench

import (
	"context"
	"database/sql/driver"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/middleware/metrics"
	"github.com/pgprovider/pgprovider/middleware/pgotel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// dropping is a span processor that discards every span: the SDK samples, builds and ends
// each span, nothing is exported.
type dropping struct{}

func (dropping) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (dropping) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (dropping) Shutdown(context.Context) error                  { return nil }
func (dropping) ForceFlush(context.Context) error                { return nil }

func recordingTP() *sdktrace.TracerProvider {
	return sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(dropping{}))
}

// session is the middleware.Session the wrappers see: a connection outside a transaction.
type session struct{}

func (session) ID() uint64                      { return 1 }
func (session) InTx() bool                      { return false }
func (session) Pinned() bool                    { return false }
func (session) Backend() middleware.BackendInfo { return middleware.BackendInfo{} }
func (session) TxValue(any) any                 { return nil }

// wrap builds wrapper around next, as the chain does: a nil wrapper (an operation the
// middleware does not wrap) leaves next as it is.
func wrap[F any](wrapper func(F) F, next F) F {
	if wrapper == nil {
		return next
	}
	return wrapper(next)
}

func nopCall(context.Context, middleware.Call) error { return nil }

type overheadCase struct {
	name string
	mw   *pgotel.Middleware
	root bool // run under a parent span
}

func overheadCases() ([]overheadCase, *sdktrace.TracerProvider) {
	tp := recordingTP()
	return []overheadCase{
		{"recording", pgotel.New(pgotel.WithTracerProvider(tp), pgotel.WithRecorder(metrics.New())), true},
		// as bench/run.sh measures it (variant pgotel-sdk): no parent span, root spans on
		{"recording-root", pgotel.New(pgotel.WithTracerProvider(tp), pgotel.WithRootSpans(true), pgotel.WithRecorder(metrics.New())), false},
		{"noop-global", pgotel.New(pgotel.WithRecorder(metrics.New())), false},
		// no-op tracer, no recorder: what the middleware costs before an SDK is installed
		{"noop", pgotel.New(pgotel.WithTracerProvider(tracenoop.NewTracerProvider())), false},
	}, tp
}

// BenchmarkOverhead measures the middleware alone, through its public wrappers
// (mw.Wrappers(nil).Query(next) ...) around executors that do nothing: the CPU a
// db.QueryRow("SELECT 1") pays for tracing and metrics, which is a pool checkout (reset
// session), the query, the end of its result set and the return to the pool (release).
func BenchmarkOverhead(b *testing.B) {
	cases, tp := overheadCases()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			if c.root {
				var root trace.Span
				ctx, root = tp.Tracer("bench").Start(ctx, "request")
				defer root.End()
			}
			w := c.mw.Wrappers(nil)
			var innerCtx context.Context
			query := wrap(w.Query, func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
				innerCtx = ctx
				return nil, nil
			})
			end := wrap(w.RowsEnd, func(ctx context.Context, e middleware.RowsEnd) error { return nil })
			reset := wrap(w.ResetSession, nopCall)
			release := wrap(w.Release, nopCall)
			s := middleware.Statement{Op: middleware.OpQuery, Session: session{}, SQL: "SELECT 1"}
			rc := middleware.Call{Op: middleware.OpResetSession, Session: session{}}
			rl := middleware.Call{Op: middleware.OpRelease, Session: session{}}
			b.ReportAllocs()
			for b.Loop() {
				_ = reset(ctx, rc)
				_, _ = query(ctx, s)
				_ = end(innerCtx, middleware.RowsEnd{Statement: s, Rows: 1, Duration: time.Microsecond})
				_ = release(context.Background(), rl)
			}
		})
	}
}

// BenchmarkOverheadExec is BenchmarkOverhead for a statement without rows (db.Exec).
func BenchmarkOverheadExec(b *testing.B) {
	cases, tp := overheadCases()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			if c.root {
				var root trace.Span
				ctx, root = tp.Tracer("bench").Start(ctx, "request")
				defer root.End()
			}
			w := c.mw.Wrappers(nil)
			exec := wrap(w.Exec, func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
				return driver.RowsAffected(1), nil
			})
			reset := wrap(w.ResetSession, nopCall)
			release := wrap(w.Release, nopCall)
			s := middleware.Statement{Op: middleware.OpExec, Session: session{}, SQL: "UPDATE t SET n = n + 1 WHERE id = $1",
				Args: []driver.NamedValue{{Ordinal: 1, Value: int64(1)}}}
			rc := middleware.Call{Op: middleware.OpResetSession, Session: session{}}
			rl := middleware.Call{Op: middleware.OpRelease, Session: session{}}
			b.ReportAllocs()
			for b.Loop() {
				_ = reset(ctx, rc)
				_, _ = exec(ctx, s)
				_ = release(context.Background(), rl)
			}
		})
	}
}

// BenchmarkSDKFloor measures what the OpenTelemetry SDK alone costs for one query span as
// pgotel records it (always sample, a dropping processor, the same seven attributes given
// at start): the floor under the recording-tracer overhead, whatever the instrumentation does
// around it. The bare case is a span without attributes.
func BenchmarkSDKFloor(b *testing.B) {
	tp := recordingTP()
	defer tp.Shutdown(context.Background())
	tr := tp.Tracer("floor")
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("db.system.name", "postgresql"),
		attribute.String("db.namespace", "test"),
		attribute.String("db.operation.name", "SELECT"),
		attribute.String("db.query.summary", "SELECT"),
		attribute.String("db.query.text", "SELECT 1"),
		attribute.String("server.address", "127.0.0.1"),
		attribute.Int("server.port", 5432),
	)}
	ctx := context.Background()
	for _, c := range []struct {
		name string
		opts []trace.SpanStartOption
	}{{"attributes", opts}, {"bare", []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, span := tr.Start(ctx, "SELECT", c.opts...)
				span.End()
			}
		})
	}
}
