package pgprovider_test

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m, pgtest.Options{MaxConnections: 200})
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreCurrent()); err != nil {
			println("goroutine leak:", err.Error())
			code = 1
		}
	}
	os.Exit(code)
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openDB opens a pgprovider *sql.DB on the shared cluster's primary.
func openDB(t *testing.T, opts ...pgprovider.Option) *sql.DB {
	t.Helper()
	db, err := pgprovider.Open(pgtest.Shared(t).Primary().DSN(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
