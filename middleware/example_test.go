package middleware_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
)

// printer is a middleware that prints around each statement without rows.
type printer string

func (p printer) Wrappers(middleware.Connector) middleware.Wrappers {
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
	db, err := pgprovider.Open("", pgprovider.WithBackend(fakeServer("server")),
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
	db, _ := pgprovider.Open("", pgprovider.WithBackend(fakeServer("server")), pgprovider.WithMiddleware(again))
	defer db.Close()
	_, err := db.Exec("fail")
	fmt.Println("runs:", runs, "error:", err)
	// Output:
	// server runs: fail
	// server runs: fail
	// runs: 2 error: failed
}

// A middleware declares the session state an operation needs; the operation runs with it.
// The executor sets what the backend lacks before the statement, and sets it again after a
// statement that may have changed it (here a SET).
func ExampleState() {
	tenant := middleware.Wrappers{Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
		return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
			s.State = s.State.With("search_path", middleware.SearchPath("tenant_acme"))
			return next(ctx, s)
		}
	}}
	db, _ := pgprovider.Open("", pgprovider.WithBackend(fakeServer("server")), pgprovider.WithMiddleware(tenant))
	defer db.Close()
	db.SetMaxOpenConns(1)
	_, _ = db.Exec("UPDATE t SET n = n + 1")
	_, _ = db.Exec("UPDATE t SET n = n + 1")
	_, _ = db.Exec("SET search_path = public")
	_, _ = db.Exec("UPDATE t SET n = n + 1")
	// Output:
	// server sets search_path = "tenant_acme", pg_temp
	// server runs: UPDATE t SET n = n + 1
	// server runs: UPDATE t SET n = n + 1
	// server runs: SET search_path = public
	// server sets search_path = "tenant_acme", pg_temp
	// server runs: UPDATE t SET n = n + 1
}

// SearchPath quotes each schema as an identifier and puts pg_temp last.
func ExampleSearchPath() {
	fmt.Println(middleware.SearchPath("tenant_acme", "shared"))
	fmt.Println(middleware.SearchPath(`a", public`))
	// Output:
	// "tenant_acme", "shared", pg_temp
	// "a"", public", pg_temp
}

// otherServer is a Target that lends a backend of another Connector for each statement.
type otherServer struct{ ctr *pgprovider.Connector }

func (t otherServer) Acquire(ctx context.Context) (middleware.Backend, error) {
	return t.ctr.OpenBackend(ctx)
}

func (t otherServer) Release(b middleware.Backend, err error) { _ = b.Close() }

type reportKey struct{}

// A routing middleware sends a statement to another server by setting its Target; the
// executor borrows a backend from the target for the statement and applies the declared state
// there. Package replica is such a middleware.
func ExampleTarget() {
	reports, _ := pgprovider.NewConnector("", pgprovider.WithBackend(fakeServer("reports")))
	defer reports.Close()
	route := middleware.Wrappers{Query: func(next middleware.QueryFunc) middleware.QueryFunc {
		return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
			if ctx.Value(reportKey{}) != nil {
				s.Target = otherServer{reports}
			}
			return next(ctx, s)
		}
	}}
	db, _ := pgprovider.Open("", pgprovider.WithBackend(fakeServer("primary")), pgprovider.WithMiddleware(route))
	defer db.Close()
	var n int
	_ = db.QueryRow("SELECT count(*) FROM orders").Scan(&n)
	_ = db.QueryRowContext(context.WithValue(context.Background(), reportKey{}, true), "SELECT count(*) FROM orders").Scan(&n)
	// Output:
	// primary runs: SELECT count(*) FROM orders
	// reports runs: SELECT count(*) FROM orders
}

// fakeServer stands in for PostgreSQL: a database/sql driver whose connections print what
// they run, under the server's name (pgprovider.WithBackend puts such a driver behind the
// executor, for tests).
type fakeServer string

func (f fakeServer) Connect(context.Context) (driver.Conn, error) { return fakeConn{string(f)}, nil }
func (fakeServer) Driver() driver.Driver                          { return nil }

type fakeConn struct{ name string }

func (fakeConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("not supported") }
func (fakeConn) Close() error                        { return nil }
func (fakeConn) Begin() (driver.Tx, error)           { return nil, errors.New("not supported") }
func (fakeConn) PrepareContext(context.Context, string) (driver.Stmt, error) {
	return nil, errors.New("not supported")
}
func (fakeConn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) {
	return nil, errors.New("not supported")
}
func (c fakeConn) QueryContext(_ context.Context, sql string, _ []driver.NamedValue) (driver.Rows, error) {
	fmt.Println(c.name, "runs:", sql)
	return &oneRow{}, nil
}
func (c fakeConn) ExecContext(_ context.Context, sql string, args []driver.NamedValue) (driver.Result, error) {
	if strings.HasPrefix(sql, "SELECT set_config(") { // how the executor applies declared state
		for i := 0; i+1 < len(args); i += 2 {
			fmt.Printf("%s sets %v = %v\n", c.name, args[i].Value, args[i+1].Value)
		}
		return driver.RowsAffected(1), nil
	}
	fmt.Println(c.name, "runs:", sql)
	if sql == "fail" {
		return nil, errors.New("failed")
	}
	return driver.RowsAffected(1), nil
}

// oneRow is a result set of one row holding 1.
type oneRow struct{ done bool }

func (*oneRow) Columns() []string { return []string{"n"} }
func (*oneRow) Close() error      { return nil }
func (r *oneRow) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done, dest[0] = true, int64(1)
	return nil
}
