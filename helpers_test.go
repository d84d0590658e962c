package pgprovider_test

import (
	"context"
	"database/sql/driver"
	"sync/atomic"
	"testing"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/middleware"
)

func sharedDSN(t testing.TB) string { return pgtest.Shared(t).Primary().DSN() }

var rowsEnded atomic.Int64

func withRowsEndCounter() pgprovider.Option {
	return pgprovider.WithMiddleware(middleware.Wrappers{RowsEnd: func(next middleware.RowsEndFunc) middleware.RowsEndFunc {
		return func(ctx context.Context, e middleware.RowsEnd) error {
			rowsEnded.Add(1)
			return next(ctx, e)
		}
	}})
}

func pgtestDSN(tb testing.TB) string { return pgtest.Shared(tb).Primary().DSN() }

// chain is one configuration the behaviour tests run with. Behaviour must not depend on
// whether a middleware is installed, only speed may: every behaviour test runs with the empty
// chain and with a middleware that passes every operation through.
type chain struct {
	name   string
	driver string              // the registered driver name
	opts   []pgprovider.Option // the options that make it
}

var chains = []chain{
	{"empty chain", "pgprovider", nil},
	{"pass-through chain", "pgprovider-pass-through", []pgprovider.Option{pgprovider.WithMiddleware(passThroughAll())}},
}

func init() {
	if err := pgprovider.Register("pgprovider-pass-through", chains[1].opts...); err != nil {
		panic(err)
	}
}

// forEachChain runs f once per chain, as a subtest.
func forEachChain(t *testing.T, f func(t *testing.T, c chain)) {
	for _, c := range chains {
		t.Run(c.name, func(t *testing.T) { f(t, c) })
	}
}

// passThroughAll wraps every operation and passes it on unchanged.
func passThroughAll() middleware.Wrappers {
	call := func(next middleware.CallFunc) middleware.CallFunc {
		return func(ctx context.Context, c middleware.Call) error { return next(ctx, c) }
	}
	return middleware.Wrappers{
		Connect: call, Ping: call, ResetSession: call, Commit: call, Rollback: call,
		StmtClose: call, Raw: call, Release: call,
		Begin: func(next middleware.BeginFunc) middleware.BeginFunc {
			return func(ctx context.Context, b middleware.Begin) error { return next(ctx, b) }
		},
		Prepare: func(next middleware.PrepareFunc) middleware.PrepareFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Stmt, error) { return next(ctx, s) }
		},
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
