package pgprovider_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
)

// mockConnector puts go-sqlmock behind the executor.
type mockConnector struct {
	drv driver.Driver
	dsn string
}

func (m mockConnector) Connect(context.Context) (driver.Conn, error) { return m.drv.Open(m.dsn) }
func (m mockConnector) Driver() driver.Driver                        { return m.drv }

var mockSeq int
var mockMu sync.Mutex

func newMock(t *testing.T, opts ...pgprovider.Option) (*sql.DB, sqlmock.Sqlmock) {
	t.Helper()
	mockMu.Lock()
	mockSeq++
	dsn := fmt.Sprintf("mock-%s-%d", t.Name(), mockSeq)
	mockMu.Unlock()
	mdb, mock, err := sqlmock.NewWithDSN(dsn, sqlmock.MonitorPingsOption(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mdb.Close() })
	opts = append(opts, pgprovider.WithBackend(mockConnector{mdb.Driver(), dsn}))
	db, err := pgprovider.Open("", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	return db, mock
}

type ctxKey string

// recorder is a middleware that records each operation it sees, with a name.
type recorder struct {
	name string
	log  *[]string
}

func (r recorder) add(s string) { *r.log = append(*r.log, r.name+":"+s) }

func (r recorder) Wrappers(middleware.Connector) middleware.Wrappers {
	return middleware.Wrappers{Exec: r.exec, Query: r.query, RowsEnd: r.rowsEnd, Begin: r.begin, Commit: r.commit}
}

func (r recorder) exec(next middleware.ExecFunc) middleware.ExecFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
		r.add("exec>" + s.Op.String())
		ctx = context.WithValue(ctx, ctxKey(r.name), true)
		res, err := next(ctx, s)
		r.add("exec<" + errText(err))
		return res, err
	}
}

func (r recorder) query(next middleware.QueryFunc) middleware.QueryFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
		r.add("query>" + s.Op.String())
		ctx = context.WithValue(ctx, ctxKey(r.name), true)
		return next(ctx, s)
	}
}

func (r recorder) rowsEnd(next middleware.RowsEndFunc) middleware.RowsEndFunc {
	return func(ctx context.Context, e middleware.RowsEnd) error {
		_, outer := ctx.Value(ctxKey("outer")).(bool)
		_, inner := ctx.Value(ctxKey("inner")).(bool)
		r.add(fmt.Sprintf("rowsend rows=%d ctx=%v,%v", e.Rows, outer, inner))
		return next(ctx, e)
	}
}

func (r recorder) begin(next middleware.BeginFunc) middleware.BeginFunc {
	return func(ctx context.Context, b middleware.Begin) error { r.add("begin"); return next(ctx, b) }
}

func (r recorder) commit(next middleware.CallFunc) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error { r.add("commit"); return next(ctx, c) }
}

func (r recorder) Close() error { r.add("close"); return nil }

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return "err"
}

func TestChainOrderAndContext(t *testing.T) {
	var log []string
	db, mock := newMock(t, pgprovider.WithMiddleware(recorder{"outer", &log}, nil, recorder{"inner", &log}))
	mock.ExpectExec("UPDATE t").WillReturnResult(sqlmock.NewResult(0, 1))
	mock.ExpectQuery("SELECT a").WillReturnRows(sqlmock.NewRows([]string{"a"}).AddRow(1).AddRow(2))
	mock.ExpectBegin()
	mock.ExpectExec("INSERT").WillReturnResult(sqlmock.NewResult(1, 1))
	mock.ExpectCommit()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "UPDATE t SET n = 1"); err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, "SELECT a FROM t")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
	}
	rows.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	want := []string{
		"outer:exec>exec", "inner:exec>exec", "inner:exec<ok", "outer:exec<ok",
		"outer:query>query", "inner:query>query",
		"outer:rowsend rows=2 ctx=true,true", "inner:rowsend rows=2 ctx=true,true",
		"outer:begin", "inner:begin",
		"outer:exec>exec", "inner:exec>exec", "inner:exec<ok", "outer:exec<ok",
		"outer:commit", "inner:commit",
		"inner:close", "outer:close",
	}
	if got := strings.Join(log, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
}

func TestChainErrorsShortCircuitAndRepeat(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name   string
		mw     middleware.Wrappers
		expect func(sqlmock.Sqlmock)
		check  func(t *testing.T, err error)
	}{
		{
			name: "error from the backend reaches the caller unchanged",
			mw: middleware.Wrappers{Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
				return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
					res, err := next(ctx, s)
					if !errors.Is(err, boom) {
						panic("middleware did not see the error")
					}
					return res, err
				}
			}},
			expect: func(m sqlmock.Sqlmock) { m.ExpectExec("UPDATE").WillReturnError(boom) },
			check: func(t *testing.T, err error) {
				if !errors.Is(err, boom) {
					t.Fatalf("got %v", err)
				}
			},
		},
		{
			name: "short-circuit never reaches the backend",
			mw: middleware.Wrappers{Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
				return func(context.Context, middleware.Statement) (driver.Result, error) { return nil, boom }
			}},
			expect: func(sqlmock.Sqlmock) {},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, boom) {
					t.Fatalf("got %v", err)
				}
			},
		},
		{
			name: "next called twice runs the statement twice",
			mw: middleware.Wrappers{Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
				return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
					if _, err := next(ctx, s); err == nil {
						panic("first attempt should fail")
					}
					return next(ctx, s)
				}
			}},
			expect: func(m sqlmock.Sqlmock) {
				m.ExpectExec("UPDATE").WillReturnError(boom)
				m.ExpectExec("UPDATE").WillReturnResult(sqlmock.NewResult(0, 1))
			},
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "context replaced by a middleware reaches the backend",
			mw: middleware.Wrappers{Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
				return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
					ctx, cancel := context.WithCancel(ctx)
					cancel()
					return next(ctx, s)
				}
			}},
			expect: func(m sqlmock.Sqlmock) {
				m.ExpectExec("UPDATE").WillDelayFor(1e9).WillReturnResult(sqlmock.NewResult(0, 1))
			},
			check: func(t *testing.T, err error) {
				// go-sqlmock answers a cancelled context with its own error.
				if err == nil || !strings.Contains(err.Error(), "cancel") {
					t.Fatalf("got %v", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, mock := newMock(t, pgprovider.WithMiddleware(tt.mw))
			tt.expect(mock)
			_, err := db.ExecContext(context.Background(), "UPDATE t SET n = 1")
			tt.check(t, err)
			if err := mock.ExpectationsWereMet(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestChainConfigErrors(t *testing.T) {
	ranked := func(r middleware.Rank) middleware.Wrappers {
		return middleware.Wrappers{Rank: r, Exec: func(n middleware.ExecFunc) middleware.ExecFunc { return n }}
	}
	tests := []struct {
		name string
		mws  []middleware.Middleware
		want string
	}{
		{"routing outside retry", []middleware.Middleware{ranked(middleware.RankRouting), ranked(middleware.RankRetry)}, "middleware 2 (retry, middleware.Wrappers) is listed after middleware 1 (replica routing, middleware.Wrappers)"},
		{"tenancy outside tracing", []middleware.Middleware{ranked(middleware.RankTenancy), ranked(middleware.RankObserve)}, "middleware 2 (observability, middleware.Wrappers) is listed after middleware 1 (tenancy"},
		{"no operation", []middleware.Middleware{middleware.Wrappers{}}, "middleware 1 (middleware.Wrappers) wraps no operation"},
		{"rank only", []middleware.Middleware{middleware.Wrappers{Rank: middleware.RankRetry}}, "wraps no operation"},
		{"misspelt wrapper method", []middleware.Middleware{misspelt{}}, "pgprovider_test.misspelt has a method WrapQuerry"},
		{"wrapper method of the old API", []middleware.Middleware{&oldAPI{}}, "*pgprovider_test.oldAPI has a method WrapExec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, open := range []func() error{
				func() error {
					_, err := pgprovider.NewConnector("host=localhost", pgprovider.WithMiddleware(tt.mws...))
					return err
				},
				func() error {
					_, err := pgprovider.Open("host=localhost", pgprovider.WithMiddleware(tt.mws...))
					return err
				},
			} {
				err := open()
				if !errors.Is(err, pgprovider.ErrMiddleware) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %v, want ErrMiddleware naming %q", err, tt.want)
				}
			}
		})
	}
	// A registered driver reports it at the first connection.
	name := "pgprovider-misspelt-" + t.Name()
	if err := pgprovider.Register(name, pgprovider.WithMiddleware(misspelt{})); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open(name, "host=localhost")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); !errors.Is(err, pgprovider.ErrMiddleware) {
		t.Fatalf("registered driver: %v", err)
	}
	// Nil entries, typed nil pointers included, are skipped.
	var nilMW *oldAPI
	if _, err := pgprovider.NewConnector("host=localhost", pgprovider.WithMiddleware(nil, nilMW)); err != nil {
		t.Fatalf("nil middleware: %v", err)
	}
	if _, err := pgprovider.NewConnector("host=localhost", pgprovider.WithMiddleware(ranked(middleware.RankObserve), ranked(0), ranked(middleware.RankRetry), ranked(middleware.RankTenancy), ranked(middleware.RankRouting))); err != nil {
		t.Fatalf("recommended order refused: %v", err)
	}
}

// misspelt wraps Exec through Wrappers and has a method that looks like a wrapper but would
// never be called.
type misspelt struct{}

func (misspelt) Wrappers(middleware.Connector) middleware.Wrappers {
	return middleware.Wrappers{Exec: func(n middleware.ExecFunc) middleware.ExecFunc { return n }}
}

func (misspelt) WrapQuerry(next middleware.QueryFunc) middleware.QueryFunc { return next }

// oldAPI still has the Wrap methods of an older middleware API.
type oldAPI struct{}

func (*oldAPI) Wrappers(middleware.Connector) middleware.Wrappers {
	return middleware.Wrappers{Ping: func(n middleware.CallFunc) middleware.CallFunc { return n }}
}

func (*oldAPI) WrapExec(next middleware.ExecFunc) middleware.ExecFunc { return next }

// TestMockBackendPaths runs prepared statements, result sets and transactions over a
// non-pgx backend, where the driver uses the backend's own statements.
func TestMockBackendPaths(t *testing.T) {
	db, mock := newMock(t, withRowsEndCounter())
	ctx := context.Background()
	prep := mock.ExpectPrepare("INSERT INTO t")
	prep.ExpectExec().WithArgs(sqlmock.AnyArg()).WillReturnResult(sqlmock.NewResult(0, 1))
	prep.ExpectQuery().WithArgs(sqlmock.AnyArg()).WillReturnRows(sqlmock.NewRows([]string{"a"}).AddRow("x"))
	prep.WillBeClosed()
	st, err := db.PrepareContext(ctx, "INSERT INTO t VALUES ($1) RETURNING a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ExecContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	rows, err := st.QueryContext(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := rows.ColumnTypes()
	if err != nil || len(ct) != 1 {
		t.Fatal(err)
	}
	_ = ct[0].DatabaseTypeName()
	_, _ = ct[0].Length()
	_, _, _ = ct[0].DecimalSize()
	_ = ct[0].ScanType()
	var a string
	for rows.Next() {
		if err := rows.Scan(&a); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Close(); err != nil || a != "x" {
		t.Fatalf("%q %v", a, err)
	}

	st.Close()
	mock.ExpectBegin()
	mock.ExpectRollback()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	mock.ExpectPing()
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := pgprovider.PgxConn(nil); ok {
		t.Fatal("PgxConn(nil)")
	}
	c, _ := db.Conn(ctx)
	defer c.Close()
	c.Raw(func(dc any) error {
		if _, ok := pgprovider.PgxConn(dc); ok {
			t.Error("PgxConn over a mock backend")
		}
		return nil
	})
	if err := pgprovider.Raw(ctx, c, nil); err == nil {
		t.Fatal("Raw over a mock backend must fail")
	}
}
