package tenancy_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/tenancy"
)

// queryCounter counts the statements pgx sends: the statement itself plus any set_config
// the executor adds, so (count / b.N) - 1 is the extra round trips per operation.
type queryCounter struct{ n atomic.Int64 }

func (q *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	q.n.Add(1)
	return ctx
}

func (q *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// benchRead runs the marker read b.N times on one connection, under the contexts ctxs in
// turn, and reports the extra round trips per statement.
func benchRead(b *testing.B, dsn string, mw middleware.Middleware, ctxs ...context.Context) {
	qc := &queryCounter{}
	opts := []pgprovider.Option{pgprovider.WithConnConfig(func(c *pgx.ConnConfig) { c.Tracer = qc })}
	if mw != nil {
		opts = append(opts, pgprovider.WithMiddleware(mw))
	}
	db, err := pgprovider.Open(dsn, opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var m string
	for _, ctx := range ctxs { // warm up: connect, check schemas, prepare
		if err := db.QueryRowContext(ctx, "SELECT marker FROM t").Scan(&m); err != nil {
			b.Fatal(err)
		}
	}
	qc.n.Store(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := db.QueryRowContext(ctxs[i%len(ctxs)], "SELECT marker FROM t").Scan(&m); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(qc.n.Load())/float64(b.N)-1, "extra-rt/op")
}

// BenchmarkTenancy compares, on one connection and the same query:
//   - empty: no middleware (search_path from the DSN's runtime parameter);
//   - schema-unchanged, rls-unchanged: the tenancy middleware, same tenant every time;
//   - schema-switch / rls-switch: the tenant changes on every statement.
func BenchmarkTenancy(b *testing.B) {
	tenants(b, "bn_", 2)
	dsn := rlsSetup(b, "t", 2) // RLS table public.t owned by rls_app (rows t0, t1)
	p := pgtest.Shared(b).Primary()
	schema := tenancy.Schema(tenancy.WithPrefix("bn_"))
	rls := tenancy.RLS("app.tenant_id")
	b.Run("empty", func(b *testing.B) { benchRead(b, p.DSN("search_path", "bn_t0"), nil, context.Background()) })
	b.Run("schema-unchanged", func(b *testing.B) { benchRead(b, p.DSN(), schema, as("t0")) })
	b.Run("schema-switch", func(b *testing.B) { benchRead(b, p.DSN(), schema, as("t0"), as("t1")) })
	b.Run("rls-empty", func(b *testing.B) {
		benchRead(b, p.DSN("user", "rls_app", "app.tenant_id", "t0"), nil, context.Background())
	})
	b.Run("rls-unchanged", func(b *testing.B) { benchRead(b, dsn, rls, as("t0")) })
	b.Run("rls-switch", func(b *testing.B) { benchRead(b, dsn, rls, as("t0"), as("t1")) })
}

// BenchmarkTenancyCPU measures the driver-side cost alone, over a backend that answers at
// once (no network, no server): the difference between the sub-benchmarks is what the
// middleware adds to every statement, in nanoseconds and allocations.
func BenchmarkTenancyCPU(b *testing.B) {
	for _, bc := range []struct {
		name string
		mw   middleware.Middleware
		ctxs []context.Context
	}{
		{"empty", nil, []context.Context{context.Background()}},
		{"schema-unchanged", tenancy.Schema(tenancy.WithExistenceTTL(time.Hour)), []context.Context{as("t0")}},
		{"schema-switch", tenancy.Schema(tenancy.WithExistenceTTL(time.Hour)), []context.Context{as("t0"), as("t1")}},
		{"rls-unchanged", tenancy.RLS("app.tenant_id"), []context.Context{as("t0")}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			opts := []pgprovider.Option{pgprovider.WithBackend(fakeConnector{})}
			if bc.mw != nil {
				opts = append(opts, pgprovider.WithMiddleware(bc.mw))
			}
			db, err := pgprovider.Open("", opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			var m string
			for _, ctx := range bc.ctxs {
				_ = db.QueryRowContext(ctx, "SELECT marker FROM t").Scan(&m)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := db.QueryRowContext(bc.ctxs[i%len(bc.ctxs)], "SELECT marker FROM t").Scan(&m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
