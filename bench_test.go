package pgprovider_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"testing"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
)

// passthrough wraps the hot operations and only calls next.
func passthrough() middleware.Wrappers {
	return middleware.Wrappers{
		Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Result, error) { return next(ctx, s) }
		},
		Query: func(next middleware.QueryFunc) middleware.QueryFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) { return next(ctx, s) }
		},
		RowsEnd: func(next middleware.RowsEndFunc) middleware.RowsEndFunc {
			return func(ctx context.Context, e middleware.RowsEnd) error { return next(ctx, e) }
		},
	}
}

// BenchmarkDriver compares, in one run, raw pgx stdlib with pgprovider (empty chain and five
// pass-through middlewares) on a single connection. The figures that matter here are B/op
// and allocs/op (exact); time ratios are measured with pinning in bench/.
func BenchmarkDriver(b *testing.B) {
	dsn := pgtestDSN(b)
	variants := []struct {
		name string
		open func() (*sql.DB, error)
	}{
		{"pgx", func() (*sql.DB, error) { return sql.Open("pgx", dsn) }},
		{"pgprovider", func() (*sql.DB, error) { return pgprovider.Open(dsn) }},
		{"pgprovider-5mw", func() (*sql.DB, error) {
			return pgprovider.Open(dsn, pgprovider.WithMiddleware(passthrough(), passthrough(), passthrough(), passthrough(), passthrough()))
		}},
	}
	for _, v := range variants {
		db, err := v.open()
		if err != nil {
			b.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		ctx := context.Background()
		b.Run(v.name+"/select1", func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(v.name+"/exec-arg", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := db.ExecContext(ctx, "SELECT $1::int", 1); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(v.name+"/tx", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tx.ExecContext(ctx, "SELECT 1"); err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
		db.Close()
	}
}
