package retry_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
)

// dsnConnector opens go-sqlmock's shared connection by its DSN, so it can sit behind the
// executor with pgprovider.WithBackend.
type dsnConnector struct {
	d   driver.Driver
	dsn string
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.d }

var mockSeq atomic.Int64

// newMock returns a *sql.DB running mws over go-sqlmock (one connection), and the mock.
func newMock(t *testing.T, mws ...middleware.Middleware) (*sql.DB, sqlmock.Sqlmock) {
	t.Helper()
	dsn := fmt.Sprintf("retry_mock_%d", mockSeq.Add(1))
	mdb, mock, err := sqlmock.NewWithDSN(dsn, sqlmock.QueryMatcherOption(sqlmock.QueryMatcherEqual))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mdb.Close() })
	db, err := pgprovider.Open("", pgprovider.WithBackend(dsnConnector{mdb.Driver(), dsn}), pgprovider.WithMiddleware(mws...))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	return db, mock
}

// counter is an unranked middleware listed after retry: it counts what reaches the executor
// and records the attempt number each attempt's context carries.
type counter struct {
	execs, queries, begins, connects atomic.Int64
	attempts                         []int
}

func (c *counter) mw() middleware.Middleware {
	return middleware.Wrappers{
		Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
				c.execs.Add(1)
				c.attempts = append(c.attempts, attemptFrom(ctx))
				return next(ctx, s)
			}
		},
		Query: func(next middleware.QueryFunc) middleware.QueryFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
				c.queries.Add(1)
				return next(ctx, s)
			}
		},
		Begin: func(next middleware.BeginFunc) middleware.BeginFunc {
			return func(ctx context.Context, b middleware.Begin) error {
				c.begins.Add(1)
				return next(ctx, b)
			}
		},
		Connect: func(next middleware.CallFunc) middleware.CallFunc {
			return func(ctx context.Context, x middleware.Call) error {
				c.connects.Add(1)
				return next(ctx, x)
			}
		},
	}
}
