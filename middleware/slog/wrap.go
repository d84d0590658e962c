package pgslog

import (
	"context"
	"database/sql/driver"
	"time"

	"github.com/pgprovider/pgprovider/middleware"
)

// WrapConnect logs backend connections.
func (l *Logger) WrapConnect(next middleware.CallFunc) middleware.CallFunc {
	return l.call(middleware.OpConnect, next)
}

// WrapCommit logs COMMIT.
func (l *Logger) WrapCommit(next middleware.CallFunc) middleware.CallFunc {
	return l.call(middleware.OpCommit, next)
}

// WrapRollback logs ROLLBACK.
func (l *Logger) WrapRollback(next middleware.CallFunc) middleware.CallFunc {
	return l.call(middleware.OpRollback, next)
}

func (l *Logger) call(op middleware.Op, next middleware.CallFunc) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error {
		t := time.Now()
		err := next(ctx, c)
		l.emit(ctx, op, nil, -1, err, time.Since(t))
		return err
	}
}

// WrapBegin logs BEGIN.
func (l *Logger) WrapBegin(next middleware.BeginFunc) middleware.BeginFunc {
	return func(ctx context.Context, b middleware.Begin) error {
		t := time.Now()
		err := next(ctx, b)
		l.emit(ctx, middleware.OpBegin, nil, -1, err, time.Since(t))
		return err
	}
}

// WrapPrepare logs statement preparation.
func (l *Logger) WrapPrepare(next middleware.PrepareFunc) middleware.PrepareFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Stmt, error) {
		t := time.Now()
		st, err := next(ctx, s)
		l.emit(ctx, middleware.OpPrepare, &s, -1, err, time.Since(t))
		return st, err
	}
}

// WrapExec logs statements without rows.
func (l *Logger) WrapExec(next middleware.ExecFunc) middleware.ExecFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
		t := time.Now()
		res, err := next(ctx, s)
		l.emit(ctx, s.Op, &s, -1, err, time.Since(t))
		return res, err
	}
}

// WrapQuery logs failed queries; the others are logged when their result set ends.
func (l *Logger) WrapQuery(next middleware.QueryFunc) middleware.QueryFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
		t := time.Now()
		rows, err := next(ctx, s)
		if err != nil {
			l.emit(ctx, s.Op, &s, -1, err, time.Since(t))
		}
		return rows, err
	}
}

// WrapRowsEnd logs a query when its result set ends, with the rows read and the duration.
func (l *Logger) WrapRowsEnd(next middleware.RowsEndFunc) middleware.RowsEndFunc {
	return func(ctx context.Context, e middleware.RowsEnd) error {
		err := next(ctx, e)
		s := e.Statement
		l.emit(ctx, s.Op, &s, e.Rows, err, e.Duration)
		return err
	}
}
