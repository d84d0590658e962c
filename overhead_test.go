package pgprovider_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"io"
	"testing"

	"github.com/pgprovider/pgprovider"
)

// fakeConn answers every statement at once with one row holding 1, so that a benchmark over
// it measures the client-side path alone: database/sql, and pgprovider's wrappers and chain
// when it sits in between. No network, no server, nothing to add noise.
type fakeConn struct{}

type fakeRows struct{ n int }

type fakeConnector struct{}

func (fakeConnector) Connect(context.Context) (driver.Conn, error) { return fakeConn{}, nil }
func (fakeConnector) Driver() driver.Driver                        { return nil }

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
func (fakeConn) Ping(context.Context) error         { return nil }
func (fakeConn) ResetSession(context.Context) error { return nil }
func (fakeConn) IsValid() bool                      { return true }
func (fakeConn) Commit() error                      { return nil }
func (fakeConn) Rollback() error                    { return nil }
func (fakeConn) CheckNamedValue(*driver.NamedValue) error {
	return nil
}

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

// BenchmarkClientOverhead measures what pgprovider adds on the client per operation, without
// a server: database/sql over the fake backend directly ("direct"), through pgprovider with an
// empty chain, and with five pass-through middlewares. The differences in ns/op are the
// driver's own cost per query, which the bench/ ratios against pgx stdlib can only bound
// within their noise.
func BenchmarkClientOverhead(b *testing.B) {
	variants := []struct {
		name string
		db   func() *sql.DB
	}{
		{"direct", func() *sql.DB { return sql.OpenDB(fakeConnector{}) }},
		{"empty", func() *sql.DB {
			c, err := pgprovider.NewConnector("", pgprovider.WithBackend(fakeConnector{}))
			if err != nil {
				b.Fatal(err)
			}
			return sql.OpenDB(c)
		}},
		{"five", func() *sql.DB {
			c, err := pgprovider.NewConnector("", pgprovider.WithBackend(fakeConnector{}),
				pgprovider.WithMiddleware(passthrough(), passthrough(), passthrough(), passthrough(), passthrough()))
			if err != nil {
				b.Fatal(err)
			}
			return sql.OpenDB(c)
		}},
	}
	ctx := context.Background()
	for _, v := range variants {
		db := v.db()
		db.SetMaxOpenConns(1)
		b.Run("select1/"+v.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("exec/"+v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES ($1)", 1); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("tx/"+v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
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
