package pgotel_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/middleware/metrics"
	pgotel "github.com/pgprovider/pgprovider/middleware/pgotel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// dropping is a span processor that discards every span: the SDK records, nothing exports.
type dropping struct{}

func (dropping) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (dropping) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (dropping) Shutdown(context.Context) error                  { return nil }
func (dropping) ForceFlush(context.Context) error                { return nil }

// BenchmarkSelect1 compares SELECT 1 through raw pgx stdlib, pgprovider with an empty chain,
// pgprovider with tracing (recording SDK tracer, always sampled, dropping processor) and
// metrics, and pgprovider with the middleware under the global no-op providers.
func BenchmarkSelect1(b *testing.B) {
	dsn := pgtest.Shared(b).Primary().DSN()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(dropping{}))
	open := func(b *testing.B, name string) *sql.DB {
		var db *sql.DB
		var err error
		switch name {
		case "raw-pgx-stdlib":
			db, err = sql.Open("pgx", dsn)
		case "pgprovider-empty":
			db, err = pgprovider.Open(dsn)
		case "recording":
			db, err = pgprovider.Open(dsn, pgprovider.WithMiddleware(pgotel.New(pgotel.WithTracerProvider(tp), pgotel.WithRecorder(metrics.New()))))
		case "noop-global":
			db, err = pgprovider.Open(dsn, pgprovider.WithMiddleware(pgotel.New(pgotel.WithRecorder(metrics.New()))))
		}
		if err != nil {
			b.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		b.Cleanup(func() { db.Close() })
		return db
	}
	for _, name := range []string{"raw-pgx-stdlib", "pgprovider-empty", "recording", "noop-global"} {
		b.Run(name, func(b *testing.B) {
			db := open(b, name)
			ctx := context.Background()
			if name == "recording" {
				var root trace.Span
				ctx, root = tp.Tracer("bench").Start(ctx, "request")
				defer root.End()
			}
			var n int
			if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
