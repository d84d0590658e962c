package tenancy_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/tenancy"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m, pgtest.Options{MaxConnections: 200})
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// open opens a pgprovider *sql.DB on the shared primary with the given middleware.
func open(t testing.TB, dsn string, mws ...middleware.Middleware) *sql.DB {
	t.Helper()
	if dsn == "" {
		dsn = pgtest.Shared(t).Primary().DSN()
	}
	db, err := pgprovider.Open(dsn, pgprovider.WithMiddleware(mws...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// admin runs setup SQL as the superuser.
func admin(t testing.TB, sqls ...string) {
	t.Helper()
	p := pgtest.Shared(t).Primary()
	for _, s := range sqls {
		if err := p.Exec(ctxT(t), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// tenants creates n schemas prefix+"t<i>", each with table t(marker text) holding one row
// "<prefix>t<i>", and returns the tenant ids "t<i>". The schemas are dropped at cleanup.
func tenants(t testing.TB, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	var b strings.Builder
	for i := range ids {
		ids[i] = fmt.Sprintf("t%d", i)
		s := prefix + ids[i]
		fmt.Fprintf(&b, "DROP SCHEMA IF EXISTS %[1]s CASCADE; CREATE SCHEMA %[1]s; CREATE TABLE %[1]s.t(marker text); INSERT INTO %[1]s.t VALUES ('%[1]s');", s)
	}
	admin(t, b.String())
	t.Cleanup(func() {
		var d strings.Builder
		for _, id := range ids {
			fmt.Fprintf(&d, "DROP SCHEMA IF EXISTS %s CASCADE;", prefix+id)
		}
		_ = pgtest.Shared(t).Primary().Exec(context.Background(), d.String())
	})
	return ids
}

const markerSQL = "SELECT current_schema(), (SELECT marker FROM t)"

// marker reads the marker row visible to ctx on q.
func marker(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (string, error) {
	var schema, m sql.NullString
	err := q.QueryRowContext(ctx, markerSQL).Scan(&schema, &m)
	return m.String, err
}

func as(id string) context.Context { return tenancy.WithTenant(context.Background(), id) }

func fmtAny(v []any) string { return fmt.Sprint(v) }

type sqlRow = sql.Row
