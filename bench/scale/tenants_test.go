package scale

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/tenancy"
)

// nTenants is the number of tenants the statements rotate over: a schema bt_<i> each, holding
// table t(marker) with the row 'bt_<i>', and a row (tenant_id '<i>', marker 'r_<i>') each in
// public.t, the row-level-security table.
const nTenants = 1000

// stmtSQL is the statement every tenant workload runs: its tenant's marker.
const stmtSQL = "SELECT marker FROM t"

const (
	schemaPrefix = "bt_"
	rlsRole      = "bench_rls"
	rlsSetting   = "app.tenant_id"
)

var (
	tenantCtx     [nTenants]context.Context // tenancy.WithTenant(ctx, "<i>")
	schemaMarker  [nTenants]string          // what t holds in bt_<i>
	rlsMarker     [nTenants]string          // what public.t shows tenant <i>
	setSearchPath [nTenants]string          // the SET statement raw pgx stdlib issues for tenant <i>
)

func init() {
	for i := range nTenants {
		tenantCtx[i] = tenancy.WithTenant(context.Background(), strconv.Itoa(i))
		schemaMarker[i] = schemaPrefix + strconv.Itoa(i)
		rlsMarker[i] = "r_" + strconv.Itoa(i)
		setSearchPath[i] = `SET search_path = "` + schemaMarker[i] + `", pg_temp`
	}
}

var (
	setupOnce sync.Once
	setupErr  error
)

// setupTenants creates (once per process) the 1 000 schemas and the row-level-security table.
func setupTenants(ctx context.Context, p *pgtest.Node) error {
	setupOnce.Do(func() {
		setupErr = p.Exec(ctx, fmt.Sprintf(`DO $$BEGIN
			FOR i IN 0..%[1]d LOOP
				EXECUTE format('CREATE SCHEMA %%I', '%[2]s' || i);
				EXECUTE format('CREATE TABLE %%I.t (marker text)', '%[2]s' || i);
				EXECUTE format('INSERT INTO %%I.t VALUES (%%L)', '%[2]s' || i, '%[2]s' || i);
			END LOOP;
			CREATE ROLE %[3]s LOGIN;
		END$$;
		CREATE TABLE public.t (tenant_id text, marker text);
		INSERT INTO public.t SELECT i::text, 'r_' || i FROM generate_series(0, %[1]d) i;
		CREATE INDEX ON public.t (tenant_id);
		ANALYZE public.t;
		ALTER TABLE public.t OWNER TO %[3]s;
		ALTER TABLE public.t ENABLE ROW LEVEL SECURITY;
		ALTER TABLE public.t FORCE ROW LEVEL SECURITY;
		CREATE POLICY isolation ON public.t USING (tenant_id = NULLIF(current_setting('%[4]s', true), ''))`,
			nTenants-1, schemaPrefix, rlsRole, rlsSetting))
	})
	return setupErr
}

// tenantServer returns the DSNs of the superuser and of the row-level-security role, with
// the tenants set up.
func tenantServer(tb testing.TB) (dsn, rlsDSN string) {
	tb.Helper()
	p := pgtest.Shared(tb).Primary()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := setupTenants(ctx, p); err != nil {
		tb.Fatal(err)
	}
	return p.DSN(), p.DSN("user", rlsRole)
}

// tenantVariant is one way of running the tenant workload.
type tenantVariant struct {
	name, doc string
	// rotate: statement i runs for tenant i%1000; otherwise every statement for tenant 0.
	rotate bool
	// same names the single-tenant variant a rotating one compares with.
	same string
	open func(dsn, rlsDSN string, tracer pgx.QueryTracer) (*sql.DB, error)
	op   func(ctx context.Context, db *sql.DB, i int) error
}

const (
	rawName    = "raw"
	rawSetName = "raw-set"
)

func tenantVariants() []tenantVariant {
	schema := func() middleware.Middleware { return tenancy.Schema(tenancy.WithPrefix(schemaPrefix)) }
	rls := func() middleware.Middleware { return tenancy.RLS(rlsSetting) }
	return []tenantVariant{
		{name: rawName, doc: "raw pgx stdlib, search_path=bt_0 in the DSN: one tenant, no switching (the floor: one round trip per statement)",
			open: func(dsn, _ string, tr pgx.QueryTracer) (*sql.DB, error) { return openRaw(dsn+" search_path=bt_0", tr) },
			op:   func(ctx context.Context, db *sql.DB, _ int) error { return scanMarker(ctx, db, schemaMarker[0]) }},
		{name: rawSetName, rotate: true, doc: "raw pgx stdlib, rotating: db.Conn, then `SET search_path = \"bt_<i>\", pg_temp` and the statement on it, then Conn.Close (what an application does by hand)",
			open: func(dsn, _ string, tr pgx.QueryTracer) (*sql.DB, error) { return openRaw(dsn, tr) },
			op:   rawSetOp},
		{name: "schema-same", doc: "pgprovider + tenancy.Schema(WithPrefix(\"bt_\")), every statement for tenant 0",
			open: openWith(schema, false), op: tenantOp(0, false)},
		{name: "schema-rotate", rotate: true, same: "schema-same", doc: "pgprovider + tenancy.Schema(WithPrefix(\"bt_\")), statement i for tenant i%1000",
			open: openWith(schema, false), op: tenantOp(nTenants, false)},
		{name: "rls-same", doc: "pgprovider + tenancy.RLS(\"app.tenant_id\") over public.t (forced row-level security, 1000 rows, index on tenant_id), every statement for tenant 0; another table than raw's, so its ratio to raw includes what the policy costs the server",
			open: openWith(rls, true), op: tenantOp(0, true)},
		{name: "rls-rotate", rotate: true, same: "rls-same", doc: "the same with statement i for tenant i%1000",
			open: openWith(rls, true), op: tenantOp(nTenants, true)},
	}
}

func openRaw(dsn string, tr pgx.QueryTracer) (*sql.DB, error) {
	if tr == nil {
		return sql.Open("pgx", dsn)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.Tracer = tr
	return stdlib.OpenDB(*cfg), nil
}

func openWith(mw func() middleware.Middleware, rls bool) func(dsn, rlsDSN string, tr pgx.QueryTracer) (*sql.DB, error) {
	return func(dsn, rlsDSN string, tr pgx.QueryTracer) (*sql.DB, error) {
		if rls {
			dsn = rlsDSN
		}
		opts := []pgprovider.Option{pgprovider.WithMiddleware(mw())}
		if tr != nil {
			opts = append(opts, pgprovider.WithConnConfig(func(c *pgx.ConnConfig) { c.Tracer = tr }))
		}
		return pgprovider.Open(dsn, opts...)
	}
}

func scanMarker(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, want string) error {
	var m string
	if err := q.QueryRowContext(ctx, stmtSQL).Scan(&m); err != nil {
		return err
	}
	if m != want {
		return fmt.Errorf("read marker %q, want %q", m, want)
	}
	return nil
}

// tenantOp runs the statement for tenant i%mod (tenant 0 when mod is 0).
func tenantOp(mod int, rls bool) func(ctx context.Context, db *sql.DB, i int) error {
	return func(_ context.Context, db *sql.DB, i int) error {
		k := 0
		if mod > 0 {
			k = i % mod
		}
		want := schemaMarker[k]
		if rls {
			want = rlsMarker[k]
		}
		return scanMarker(tenantCtx[k], db, want)
	}
}

func rawSetOp(ctx context.Context, db *sql.DB, i int) error {
	k := i % nTenants
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, setSearchPath[k]); err != nil {
		return err
	}
	return scanMarker(ctx, c, schemaMarker[k])
}

// roundTrips counts the statements pgx sends, by kind.
type roundTrips struct {
	stmt, setConfig, setSearchPath, exists, other atomic.Int64
}

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	switch {
	case d.SQL == stmtSQL:
		r.stmt.Add(1)
	case strings.Contains(d.SQL, "set_config"):
		r.setConfig.Add(1)
	case strings.HasPrefix(d.SQL, "SET search_path"):
		r.setSearchPath.Add(1)
	case strings.Contains(d.SQL, "pg_namespace"):
		r.exists.Add(1)
	default:
		r.other.Add(1)
	}
	return ctx
}

func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *roundTrips) reset() {
	for _, c := range []*atomic.Int64{&r.stmt, &r.setConfig, &r.setSearchPath, &r.exists, &r.other} {
		c.Store(0)
	}
}

// counts is what one statement of the workload sent, on average.
type counts struct {
	setConfig, setSearchPath, exists, total float64
}

// runOps runs ops statements of v on db: on the calling goroutine with one connection, or
// spread over conns goroutines; first numbers the statements.
func runOps(ctx context.Context, db *sql.DB, v tenantVariant, conns, perGoroutine, first int) error {
	if conns <= 1 {
		for i := range perGoroutine {
			if err := v.op(ctx, db, first+i); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make(chan error, conns)
	for g := range conns {
		go func() {
			for i := range perGoroutine {
				if err := v.op(ctx, db, first+g*perGoroutine+i); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var firstErr error
	for range conns {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// warm opens conns connections in db and runs the statement of the first tenants tenants
// once each (for a rotating variant; tenant 0's on every connection otherwise): the
// connections, the pgx statement caches and the tenancy middleware's schema-existence cache
// are warm afterwards for statements 0 to tenants-1.
func warm(ctx context.Context, db *sql.DB, v tenantVariant, conns, tenants int) error {
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	per := 4
	if v.rotate {
		per = max(per, (min(tenants, nTenants)+conns-1)/conns)
	}
	return runOps(ctx, db, v, conns, per, 0)
}

// countRoundTrips runs n statements of v (after a warm-up) with a tracer and returns what
// they sent per statement.
func countRoundTrips(ctx context.Context, dsn, rlsDSN string, v tenantVariant, conns, n int) (counts, error) {
	rt := &roundTrips{}
	db, err := v.open(dsn, rlsDSN, rt)
	if err != nil {
		return counts{}, err
	}
	defer db.Close()
	if err := warm(ctx, db, v, conns, nTenants); err != nil {
		return counts{}, err
	}
	rt.reset()
	per := (n + conns - 1) / conns
	if err := runOps(ctx, db, v, conns, per, 7); err != nil {
		return counts{}, err
	}
	ops := float64(per * conns)
	if got := rt.stmt.Load(); got != int64(ops) {
		return counts{}, fmt.Errorf("%s: traced %d statements, ran %.0f", v.name, got, ops)
	}
	return counts{
		setConfig:     float64(rt.setConfig.Load()) / ops,
		setSearchPath: float64(rt.setSearchPath.Load()) / ops,
		exists:        float64(rt.exists.Load()) / ops,
		total:         float64(rt.stmt.Load()+rt.setConfig.Load()+rt.setSearchPath.Load()+rt.exists.Load()+rt.other.Load()) / ops,
	}, nil
}

// BenchmarkTenantRotation runs the tenant workload of every variant on 1 connection and on 8,
// and reports the statements pgx sent per statement of the workload besides it
// (round-trips/op) and the set_config ones among them.
func BenchmarkTenantRotation(b *testing.B) {
	dsn, rlsDSN := tenantServer(b)
	ctx := context.Background()
	for _, conns := range []int{1, 8} {
		b.Run(fmt.Sprint("conns=", conns), func(b *testing.B) {
			for _, v := range tenantVariants() {
				b.Run("variant="+v.name, func(b *testing.B) {
					rt := &roundTrips{}
					db, err := v.open(dsn, rlsDSN, rt)
					if err != nil {
						b.Fatal(err)
					}
					defer db.Close()
					if err := warm(ctx, db, v, conns, b.N+conns); err != nil { // the tenants this run reads
						b.Fatal(err)
					}
					rt.reset()
					b.ReportAllocs()
					b.ResetTimer()
					if conns == 1 {
						for i := 0; i < b.N; i++ {
							if err := v.op(ctx, db, i); err != nil {
								b.Fatal(err)
							}
						}
					} else {
						var next atomic.Int64
						procs := runtime.GOMAXPROCS(0)
						b.SetParallelism((conns + procs - 1) / procs)
						b.RunParallel(func(pb *testing.PB) {
							for pb.Next() {
								if err := v.op(ctx, db, int(next.Add(1))); err != nil {
									b.Error(err)
									return
								}
							}
						})
					}
					b.StopTimer()
					n := float64(rt.stmt.Load())
					b.ReportMetric(float64(rt.setConfig.Load())/n, "set_config/op")
					b.ReportMetric(float64(rt.stmt.Load()+rt.setConfig.Load()+rt.setSearchPath.Load()+rt.exists.Load()+rt.other.Load())/n, "round-trips/op")
				})
			}
		})
	}
}
