package pgerror

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"

	"github.com/pgprovider/pgprovider/middleware"
)

// classified is an error with its class: errors.Is matches the class, and Unwrap returns the
// original error, so errors.As still reaches the *pgconn.PgError.
type classified struct {
	err   error
	class Class
}

func (e *classified) Error() string { return e.err.Error() }

func (e *classified) Unwrap() error { return e.err }

func (e *classified) Is(target error) bool {
	c, ok := target.(Class)
	return ok && c == e.class
}

// Wrap returns err with its class attached, so that errors.Is(err, pgerror.UniqueViolation)
// matches; Error() returns the original message and errors.As still extracts the
// *pgconn.PgError. It returns err itself when err is nil, already classified, of class None,
// or one of the values callers compare by identity (driver.ErrBadConn, context.Canceled,
// context.DeadlineExceeded, sql.ErrTxDone, sql.ErrConnDone, io.EOF).
func Wrap(err error) error {
	switch err {
	case nil, driver.ErrBadConn, context.Canceled, context.DeadlineExceeded, sql.ErrTxDone, sql.ErrConnDone, io.EOF:
		return err
	}
	var w *classified
	if errors.As(err, &w) {
		return err
	}
	c := Classify(err)
	if c == None {
		return err
	}
	return &classified{err: err, class: c}
}

// Middleware returns the opt-in error middleware: the error of every connect, ping, begin,
// commit, rollback, prepare, exec, query, raw access and end of result set passes through
// [Wrap]. It is unranked; list it first (outermost) so that the errors the caller finally sees,
// a retry middleware's last error included, are classified once:
//
//	pgprovider.WithMiddleware(pgerror.Middleware(), tracing, retry.New())
//
// database/sql returns the error that ends a result set early from Rows.Err without passing
// it through the driver's Close, so Rows.Err is not wrapped; use [Classify] there.
func Middleware() middleware.Middleware {
	call := func(next middleware.CallFunc) middleware.CallFunc {
		return func(ctx context.Context, c middleware.Call) error { return Wrap(next(ctx, c)) }
	}
	return middleware.Wrappers{
		Connect:  call,
		Ping:     call,
		Commit:   call,
		Rollback: call,
		Raw:      call,
		Begin: func(next middleware.BeginFunc) middleware.BeginFunc {
			return func(ctx context.Context, b middleware.Begin) error { return Wrap(next(ctx, b)) }
		},
		Prepare: func(next middleware.PrepareFunc) middleware.PrepareFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Stmt, error) {
				st, err := next(ctx, s)
				return st, Wrap(err)
			}
		},
		Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
				res, err := next(ctx, s)
				return res, Wrap(err)
			}
		},
		Query: func(next middleware.QueryFunc) middleware.QueryFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
				r, err := next(ctx, s)
				return r, Wrap(err)
			}
		},
		RowsEnd: func(next middleware.RowsEndFunc) middleware.RowsEndFunc {
			return func(ctx context.Context, e middleware.RowsEnd) error { return Wrap(next(ctx, e)) }
		},
	}
}
