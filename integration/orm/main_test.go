package orm

import (
	"context"
	"database/sql"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/retry"
	"github.com/pgprovider/pgprovider/tenancy"
)

// TestMain registers pgprovider's bind variables with sqlx (once, before any sqlx.Open or
// sqlx.NewDb with the driver name "pgprovider") and shares one primary+replica cluster.
func TestMain(m *testing.M) {
	sqlx.BindDriver("pgprovider", sqlx.DOLLAR)
	os.Exit(pgtest.Main(m, pgtest.Options{Replicas: 1}))
}

// ctxT returns a context that ends after d or with the test.
func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// schemas creates (afresh) one schema per tenant, named prefix+tenant, and drops them when
// the test ends.
func schemas(t *testing.T, prefix string, tenants ...string) {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	p := pgtest.Shared(t).Primary()
	for _, id := range tenants {
		name := prefix + id
		if err := p.Exec(ctx, `DROP SCHEMA IF EXISTS "`+name+`" CASCADE; CREATE SCHEMA "`+name+`"`); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := p.Exec(context.Background(), `DROP SCHEMA IF EXISTS "`+name+`" CASCADE`); err != nil {
				t.Error(err)
			}
		})
	}
}

// retries counts the failed attempts the retry middleware reported.
type retries struct{ n atomic.Int64 }

func (r *retries) option() retry.Option {
	return retry.WithOnAttempt(func(_ context.Context, a retry.Attempt) {
		if a.Err != nil {
			r.n.Add(1)
		}
	})
}

// openTenantDB opens a pgprovider *sql.DB with retry and schema-per-tenant tenancy
// (schema prefix+tenant), plus any extra middleware, and closes it when the test ends.
func openTenantDB(t *testing.T, dsn, prefix string, rt *retries, extra ...middleware.Middleware) *sql.DB {
	t.Helper()
	mws := append([]middleware.Middleware{retry.New(rt.option()), tenancy.Schema(tenancy.WithPrefix(prefix))}, extra...)
	db, err := pgprovider.Open(dsn, pgprovider.WithMiddleware(mws...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
