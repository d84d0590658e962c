package bench

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"io"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/bench/internal/suite"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/middleware/pgotel"
	"github.com/pgprovider/pgprovider/retry"
	"github.com/pgprovider/pgprovider/tenancy"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// fakeConnector is a database/sql backend that answers every statement at once with one row
// holding 1: behind pgprovider.WithBackend it leaves the client-side path alone, database/sql
// and pgprovider's session, chain and middleware, with no network and no server to add noise.
type fakeConnector struct{}

func (fakeConnector) Connect(context.Context) (driver.Conn, error) { return fakeConn{}, nil }
func (fakeConnector) Driver() driver.Driver                        { return nil }

type fakeConn struct{}

func (fakeConn) Prepare(string) (driver.Stmt, error) { return nil, driver.ErrSkip }
func (fakeConn) Close() error                        { return nil }
func (fakeConn) Begin() (driver.Tx, error)           { return fakeConn{}, nil }
func (fakeConn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) {
	return fakeConn{}, nil
}
func (fakeConn) PrepareContext(context.Context, string) (driver.Stmt, error) {
	return nil, driver.ErrSkip
}
func (fakeConn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	return &fakeRows{}, nil
}
func (fakeConn) ExecContext(context.Context, string, []driver.NamedValue) (driver.Result, error) {
	return driver.RowsAffected(1), nil
}
func (fakeConn) Ping(context.Context) error               { return nil }
func (fakeConn) ResetSession(context.Context) error       { return nil }
func (fakeConn) IsValid() bool                            { return true }
func (fakeConn) Commit() error                            { return nil }
func (fakeConn) Rollback() error                          { return nil }
func (fakeConn) CheckNamedValue(*driver.NamedValue) error { return nil }

type fakeRows struct{ n int }

func (r *fakeRows) Columns() []string { return []string{"x"} }
func (r *fakeRows) Close() error      { return nil }
func (r *fakeRows) Next(dest []driver.Value) error {
	if r.n > 0 {
		return io.EOF
	}
	r.n++
	dest[0] = int64(1)
	return nil
}

// clientVariant is one configuration over the fake backend; ctxs are the contexts its
// statements run under, in turn.
type clientVariant struct {
	name string
	mws  []middleware.Middleware // nil and direct: database/sql over the fake backend itself
	ctxs []context.Context
	raw  bool
}

func clientVariants() []clientVariant {
	bg := []context.Context{context.Background()}
	t0 := tenancy.WithTenant(context.Background(), "t0")
	t1 := tenancy.WithTenant(context.Background(), "t1")
	five := make([]middleware.Middleware, 5)
	for i := range five {
		five[i] = suite.PassThrough()
	}
	schema := func() middleware.Middleware { return tenancy.Schema(tenancy.WithExistenceTTL(time.Hour)) }
	return []clientVariant{
		{name: "direct", raw: true, ctxs: bg},
		{name: "empty", ctxs: bg},
		{name: "five", mws: five, ctxs: bg},
		{name: "pgotel-noop", mws: []middleware.Middleware{pgotel.New(pgotel.WithTracerProvider(tracenoop.NewTracerProvider()))}, ctxs: bg},
		{name: "retry", mws: []middleware.Middleware{retry.New()}, ctxs: bg},
		{name: "schema-same", mws: []middleware.Middleware{schema()}, ctxs: []context.Context{t0}},
		{name: "schema-switch", mws: []middleware.Middleware{schema()}, ctxs: []context.Context{t0, t1}},
		{name: "rls-same", mws: []middleware.Middleware{tenancy.RLS("app.tenant_id")}, ctxs: []context.Context{t0}},
		{name: "rls-switch", mws: []middleware.Middleware{tenancy.RLS("app.tenant_id")}, ctxs: []context.Context{t0, t1}},
	}
}

func (v clientVariant) open(tb testing.TB) *sql.DB {
	tb.Helper()
	var db *sql.DB
	if v.raw {
		db = sql.OpenDB(fakeConnector{})
	} else {
		c, err := pgprovider.NewConnector("", pgprovider.WithBackend(fakeConnector{}), pgprovider.WithMiddleware(v.mws...))
		if err != nil {
			tb.Fatal(err)
		}
		db = sql.OpenDB(c)
	}
	db.SetMaxOpenConns(1)
	tb.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkClient measures what pgprovider and its middleware add on the client per
// operation, without a server: database/sql over a backend that answers at once, directly
// ("direct") and through pgprovider with an empty chain, five pass-through middleware,
// pgotel with a no-op tracer, retry's happy path, and the tenancy middleware with the same
// tenant every time or a switch on every statement (the switch runs a set_config statement on
// the fake backend). Differences in ns/op are the driver's own CPU per operation, which the
// ratios of bench/run.sh over PostgreSQL can only bound within their noise; allocs/op and B/op
// are exact.
//
//	cd bench && go test -run '^$' -bench Client -count 6 | tee c.txt && benchstat -col /variant c.txt
func BenchmarkClient(b *testing.B) {
	work := []struct {
		name string
		op   func(ctx context.Context, db *sql.DB) error
	}{
		{"select1", func(ctx context.Context, db *sql.DB) error {
			var n int
			return db.QueryRowContext(ctx, "SELECT 1").Scan(&n)
		}},
		{"exec", func(ctx context.Context, db *sql.DB) error {
			_, err := db.ExecContext(ctx, "UPDATE t SET n = n + 1 WHERE id = $1", 1)
			return err
		}},
		{"tx", func(ctx context.Context, db *sql.DB) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
				_ = tx.Rollback()
				return err
			}
			return tx.Commit()
		}},
	}
	for _, w := range work {
		b.Run("work="+w.name, func(b *testing.B) {
			for _, v := range clientVariants() {
				b.Run("variant="+v.name, func(b *testing.B) {
					db := v.open(b)
					for _, ctx := range v.ctxs { // connect, look the tenants up
						if err := w.op(ctx, db); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						if err := w.op(v.ctxs[i%len(v.ctxs)], db); err != nil {
							b.Fatal(err)
						}
						i++
					}
				})
			}
		})
	}
}
