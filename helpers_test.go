package pgprovider_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/middleware"
)

func sharedDSN(t testing.TB) string { return pgtest.Shared(t).Primary().DSN() }

var rowsEnded atomic.Int64

func withRowsEndCounter() pgprovider.Option {
	return pgprovider.WithMiddleware(middleware.Funcs{RowsEnd: func(next middleware.RowsEndFunc) middleware.RowsEndFunc {
		return func(ctx context.Context, e middleware.RowsEnd) error {
			rowsEnded.Add(1)
			return next(ctx, e)
		}
	}})
}

func pgtestDSN(tb testing.TB) string { return pgtest.Shared(tb).Primary().DSN() }
