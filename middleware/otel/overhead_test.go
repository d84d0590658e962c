package pgotel_test

import (
	"context"
	"database/sql/driver"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/middleware/metrics"
	pgotel "github.com/pgprovider/pgprovider/middleware/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

type session struct{}

func (session) ID() uint64         { return 1 }
func (session) InTx() bool         { return false }
func (session) BackendPID() uint32 { return 0 }

// BenchmarkOverhead measures the middleware alone (query + end of result set) around an
// executor that does nothing: the CPU a SELECT 1 pays for tracing and metrics.
func BenchmarkOverhead(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(dropping{}))
	cases := []struct {
		name string
		mw   *pgotel.Middleware
		root bool
	}{
		{"recording", pgotel.New(pgotel.WithTracerProvider(tp), pgotel.WithRecorder(metrics.New())), true},
		{"noop-global", pgotel.New(pgotel.WithRecorder(metrics.New())), false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			if c.root {
				ctx, _ = tp.Tracer("bench").Start(ctx, "request")
			}
			var innerCtx context.Context
			query := c.mw.WrapQuery(func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
				innerCtx = ctx
				return nil, nil
			})
			end := c.mw.WrapRowsEnd(func(ctx context.Context, e middleware.RowsEnd) error { return nil })
			s := middleware.Statement{Op: middleware.OpQuery, Session: session{}, SQL: "SELECT 1"}
			b.ReportAllocs()
			for b.Loop() {
				_, _ = query(ctx, s)
				_ = end(innerCtx, middleware.RowsEnd{Statement: s, Rows: 1, Duration: time.Microsecond})
			}
		})
	}
}
