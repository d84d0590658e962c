package pgotel_test

import (
	"context"
	"database/sql/driver"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/middleware/metrics"
	pgotel "github.com/pgprovider/pgprovider/middleware/pgotel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

type session struct{}

func (session) ID() uint64                      { return 1 }
func (session) InTx() bool                      { return false }
func (session) Pinned() bool                    { return false }
func (session) Backend() middleware.BackendInfo { return middleware.BackendInfo{} }

type overheadCase struct {
	name string
	mw   *pgotel.Middleware
	root bool // run under a parent span
}

func overheadCases() ([]overheadCase, *sdktrace.TracerProvider) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(dropping{}))
	return []overheadCase{
		{"recording", pgotel.New(pgotel.WithTracerProvider(tp), pgotel.WithRecorder(metrics.New())), true},
		// as bench/ measures it: no parent span, root spans on
		{"recording-root", pgotel.New(pgotel.WithTracerProvider(tp), pgotel.WithRootSpans(true), pgotel.WithRecorder(metrics.New())), false},
		{"noop-global", pgotel.New(pgotel.WithRecorder(metrics.New())), false},
		// no-op tracer, no recorder: what the middleware costs before an SDK is installed
		{"noop", pgotel.New(pgotel.WithTracerProvider(tracenoop.NewTracerProvider())), false},
	}, tp
}

// BenchmarkOverhead measures the middleware alone around an executor that does nothing: the
// CPU a db.QueryRow("SELECT 1") pays for tracing and metrics, which is a pool checkout (reset
// session), the query, the end of its result set and the return to the pool (release).
func BenchmarkOverhead(b *testing.B) {
	cases, tp := overheadCases()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			if c.root {
				ctx, _ = tp.Tracer("bench").Start(ctx, "request")
			}
			var innerCtx context.Context
			query := c.mw.Wrappers().Query(func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
				innerCtx = ctx
				return nil, nil
			})
			end := c.mw.Wrappers().RowsEnd(func(ctx context.Context, e middleware.RowsEnd) error { return nil })
			reset := c.mw.Wrappers().ResetSession(func(context.Context, middleware.Call) error { return nil })
			release := c.mw.Wrappers().Release(func(context.Context, middleware.Call) error { return nil })
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
				ctx, _ = tp.Tracer("bench").Start(ctx, "request")
			}
			exec := c.mw.Wrappers().Exec(func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
				return driver.RowsAffected(1), nil
			})
			reset := c.mw.Wrappers().ResetSession(func(context.Context, middleware.Call) error { return nil })
			release := c.mw.Wrappers().Release(func(context.Context, middleware.Call) error { return nil })
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
