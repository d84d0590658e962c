package pgslog

import (
	"context"
	"database/sql/driver"
	"time"

	"github.com/pgprovider/pgprovider/middleware"
)

// wrapConnect logs backend connections.
func (l *Logger) wrapConnect(next middleware.CallFunc) middleware.CallFunc {
	return l.call(middleware.OpConnect, next)
}

// wrapCommit logs COMMIT.
func (l *Logger) wrapCommit(next middleware.CallFunc) middleware.CallFunc {
	return l.call(middleware.OpCommit, next)
}

// wrapRollback logs ROLLBACK.
func (l *Logger) wrapRollback(next middleware.CallFunc) middleware.CallFunc {
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

// wrapBegin logs BEGIN.
func (l *Logger) wrapBegin(next middleware.BeginFunc) middleware.BeginFunc {
	return func(ctx context.Context, b middleware.Begin) error {
		t := time.Now()
		err := next(ctx, b)
		l.emit(ctx, middleware.OpBegin, nil, -1, err, time.Since(t))
		return err
	}
}

// wrapPrepare logs statement preparation.
func (l *Logger) wrapPrepare(next middleware.PrepareFunc) middleware.PrepareFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Stmt, error) {
		t := time.Now()
		st, err := next(ctx, s)
		l.emit(ctx, middleware.OpPrepare, &s, -1, err, time.Since(t))
		return st, err
	}
}

// wrapExec logs statements without rows.
func (l *Logger) wrapExec(next middleware.ExecFunc) middleware.ExecFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
		t := time.Now()
		res, err := next(ctx, s)
		l.emit(ctx, s.Op, &s, -1, err, time.Since(t))
		return res, err
	}
}

// wrapQuery logs failed queries; the others are logged when their result set ends.
func (l *Logger) wrapQuery(next middleware.QueryFunc) middleware.QueryFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
		t := time.Now()
		rows, err := next(ctx, s)
		if err != nil {
			l.emit(ctx, s.Op, &s, -1, err, time.Since(t))
		}
		return rows, err
	}
}

// wrapRowsEnd logs a query when its result set ends, with the rows read and the duration.
func (l *Logger) wrapRowsEnd(next middleware.RowsEndFunc) middleware.RowsEndFunc {
	return func(ctx context.Context, e middleware.RowsEnd) error {
		err := next(ctx, e)
		s := e.Statement
		l.emit(ctx, s.Op, &s, e.Rows, err, e.Duration)
		return err
	}
}
