package pgerror

import (
	"context"
	"database/sql/driver"

	"github.com/pgprovider/pgprovider/middleware"
)

// Middleware returns the opt-in error middleware: every error of connect, ping, begin,
// commit, rollback, prepare, exec, query, raw access and the end of a result set passes
// through [Wrap], so that errors.Is(err, pgerror.ErrUniqueViolation) matches while
// errors.As(err, &pgErr) still extracts the *pgconn.PgError. Values that database/sql and
// callers compare by identity (driver.ErrBadConn, context errors, sql.ErrNoRows) pass
// through untouched.
//
// It is unranked, so the chain accepts it anywhere; list it first (outermost) so that the
// errors the caller finally sees, including the final error of a retry middleware, are
// classified once:
//
//	pgprovider.WithMiddleware(pgerror.Middleware(), otelmw, retry.New())
//
// database/sql returns an error that ends a result set early from Rows.Err without passing it
// through the driver's Close, so Rows.Err is not wrapped; Rows.Close's error is. Use [Is] for
// errors that may not have crossed the middleware.
func Middleware() middleware.Middleware { return errMiddleware{} }

type errMiddleware struct{}

func wrapCall(next middleware.CallFunc) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error { return Wrap(next(ctx, c)) }
}

// WrapConnect classifies connection errors (53300, 57P03, 28P01, 3D000, network errors).
func (errMiddleware) WrapConnect(next middleware.CallFunc) middleware.CallFunc {
	return wrapCall(next)
}

// WrapPing classifies ping errors.
func (errMiddleware) WrapPing(next middleware.CallFunc) middleware.CallFunc { return wrapCall(next) }

// WrapCommit classifies commit errors (40001 at commit, deferred constraints, outcome unknown).
func (errMiddleware) WrapCommit(next middleware.CallFunc) middleware.CallFunc {
	return wrapCall(next)
}

// WrapRollback classifies rollback errors.
func (errMiddleware) WrapRollback(next middleware.CallFunc) middleware.CallFunc {
	return wrapCall(next)
}

// WrapRaw classifies the error of a pgprovider.Raw call.
func (errMiddleware) WrapRaw(next middleware.CallFunc) middleware.CallFunc { return wrapCall(next) }

// WrapBegin classifies begin errors.
func (errMiddleware) WrapBegin(next middleware.BeginFunc) middleware.BeginFunc {
	return func(ctx context.Context, b middleware.Begin) error { return Wrap(next(ctx, b)) }
}

// WrapPrepare classifies prepare errors.
func (errMiddleware) WrapPrepare(next middleware.PrepareFunc) middleware.PrepareFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Stmt, error) {
		st, err := next(ctx, s)
		return st, Wrap(err)
	}
}

// WrapExec classifies exec errors.
func (errMiddleware) WrapExec(next middleware.ExecFunc) middleware.ExecFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
		res, err := next(ctx, s)
		return res, Wrap(err)
	}
}

// WrapQuery classifies query errors.
func (errMiddleware) WrapQuery(next middleware.QueryFunc) middleware.QueryFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
		r, err := next(ctx, s)
		return r, Wrap(err)
	}
}

// WrapRowsEnd classifies the error that ended a result set, as Rows.Close returns it.
func (errMiddleware) WrapRowsEnd(next middleware.RowsEndFunc) middleware.RowsEndFunc {
	return func(ctx context.Context, e middleware.RowsEnd) error { return Wrap(next(ctx, e)) }
}
