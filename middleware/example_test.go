package middleware_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
)

// printer is a middleware that prints around each statement without rows.
type printer string

func (p printer) Wrappers() middleware.Wrappers {
	return middleware.Wrappers{Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
		return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
			fmt.Println(p, "before")
			res, err := next(ctx, s)
			fmt.Println(p, "after")
			return res, err
		}
	}}
}

// The first middleware listed is the outermost: it sees an operation first and its result
// last.
func ExampleMiddleware() {
	db, err := pgprovider.Open("", pgprovider.WithBackend(fakeServer{}),
		pgprovider.WithMiddleware(printer("outer"), printer("inner")))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	_, _ = db.Exec("UPDATE t SET n = n + 1")
	// Output:
	// outer before
	// inner before
	// server runs: UPDATE t SET n = n + 1
	// inner after
	// outer after
}

// A Wrappers value is a middleware made of the wrappers it sets; every other operation passes
// through at no cost. A wrapper may call next more than once: here a statement that fails is
// run once more.
func ExampleWrappers() {
	runs := 0
	again := middleware.Wrappers{Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
		return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
			runs++
			res, err := next(ctx, s)
			if err != nil && !s.InTx {
				runs++
				res, err = next(ctx, s)
			}
			return res, err
		}
	}}
	db, _ := pgprovider.Open("", pgprovider.WithBackend(fakeServer{}), pgprovider.WithMiddleware(again))
	defer db.Close()
	_, err := db.Exec("fail")
	fmt.Println("runs:", runs, "error:", err)
	// Output:
	// server runs: fail
	// server runs: fail
	// runs: 2 error: failed
}

// fakeServer stands in for PostgreSQL: a database/sql driver whose connections print what
// they run (pgprovider.WithBackend puts such a driver behind the executor, for tests).
type fakeServer struct{}

func (fakeServer) Connect(context.Context) (driver.Conn, error) { return fakeConn{}, nil }
func (fakeServer) Driver() driver.Driver                        { return nil }

type fakeConn struct{}

func (fakeConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("not supported") }
func (fakeConn) Close() error                        { return nil }
func (fakeConn) Begin() (driver.Tx, error)           { return nil, errors.New("not supported") }
func (fakeConn) PrepareContext(context.Context, string) (driver.Stmt, error) {
	return nil, errors.New("not supported")
}
func (fakeConn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) {
	return nil, errors.New("not supported")
}
func (fakeConn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	return nil, errors.New("not supported")
}
func (fakeConn) ExecContext(_ context.Context, sql string, _ []driver.NamedValue) (driver.Result, error) {
	fmt.Println("server runs:", sql)
	if sql == "fail" {
		return nil, errors.New("failed")
	}
	return driver.RowsAffected(1), nil
}
