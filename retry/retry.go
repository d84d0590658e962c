package retry

import (
	"context"
	"database/sql/driver"
	"errors"

	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
)

// retrier is the retry middleware.
type retrier struct{ cfg *config }

// New returns the retry middleware. It wraps connect, begin, prepare, exec and query (and the
// prepared-statement variants) and runs an operation again only when that is safe:
//
//   - the operation's error is retryable by the configured set ([pgerror.Class.Retryable] by
//     default, see [WithRetryIf] and [WithCodes]);
//   - the statement is not inside a transaction (retry the whole transaction with [Tx]);
//   - the context has not ended;
//   - the outcome is known: an operation sent before the connection broke
//     (pgerror.OutcomeUnknown) is retried only when its context is marked [Idempotent].
//
// COMMIT is never wrapped, so never retried. A query is retried only when it failed before
// returning rows; an error while reading rows ends the result set and is never retried.
// Its rank is middleware.RankRetry: list it after tracing and metrics, before tenancy and
// replica routing, so each attempt re-applies the tenant and may pick another backend.
func New(opts ...Option) middleware.Middleware {
	r := &retrier{cfg: newConfig(opts)}
	return middleware.Wrappers{
		Rank:    middleware.RankRetry,
		Connect: r.wrapConnect,
		Begin:   r.wrapBegin,
		Prepare: r.wrapPrepare,
		Exec:    r.wrapExec,
		Query:   r.wrapQuery,
	}
}

// stmtRetryable applies the hard rule on unknown outcomes, then the configured set.
func (r *retrier) stmtRetryable(ctx context.Context, err error) bool {
	if errors.Is(err, pgerror.OutcomeUnknown) {
		return isIdempotent(ctx)
	}
	return r.cfg.retryable(err)
}

// wrapExec retries autocommit statements without rows.
func (r *retrier) wrapExec(next middleware.ExecFunc) middleware.ExecFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
		res, err := next(ctx, s)
		if err == nil || s.InTx {
			return res, err
		}
		l := loop{cfg: r.cfg, n: 1}
		for {
			if err = l.fail(ctx, s.Op, err, r.stmtRetryable(ctx, err)); err != nil {
				return nil, err
			}
			l.n++
			if res, err = next(withAttempt(ctx, l.n), s); err == nil {
				l.succeeded(ctx, s.Op)
				return res, nil
			}
		}
	}
}

// wrapQuery retries autocommit queries that failed before returning rows.
func (r *retrier) wrapQuery(next middleware.QueryFunc) middleware.QueryFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
		rows, err := next(ctx, s)
		if err == nil || s.InTx {
			return rows, err
		}
		l := loop{cfg: r.cfg, n: 1}
		for {
			if err = l.fail(ctx, s.Op, err, r.stmtRetryable(ctx, err)); err != nil {
				return nil, err
			}
			l.n++
			if rows, err = next(withAttempt(ctx, l.n), s); err == nil {
				l.succeeded(ctx, s.Op)
				return rows, nil
			}
		}
	}
}

// wrapPrepare retries preparing a statement outside a transaction (it has no effect).
func (r *retrier) wrapPrepare(next middleware.PrepareFunc) middleware.PrepareFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Stmt, error) {
		st, err := next(ctx, s)
		if err == nil || s.InTx {
			return st, err
		}
		l := loop{cfg: r.cfg, n: 1}
		for {
			if err = l.fail(ctx, s.Op, err, r.cfg.retryable(err)); err != nil {
				return nil, err
			}
			l.n++
			if st, err = next(withAttempt(ctx, l.n), s); err == nil {
				l.succeeded(ctx, s.Op)
				return st, nil
			}
		}
	}
}

// wrapBegin retries BEGIN (nothing has run yet).
func (r *retrier) wrapBegin(next middleware.BeginFunc) middleware.BeginFunc {
	return func(ctx context.Context, b middleware.Begin) error {
		err := next(ctx, b)
		if err == nil {
			return nil
		}
		return r.again(ctx, middleware.OpBegin, err, func(ctx context.Context) error { return next(ctx, b) })
	}
}

// wrapConnect retries establishing a backend connection (refused, 57P03 while the server
// starts, 53300 too many connections). Inside a retried attempt of another operation it makes
// a single attempt: the outer loop already bounds the attempts.
func (r *retrier) wrapConnect(next middleware.CallFunc) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error {
		err := next(ctx, c)
		if err == nil || AttemptFrom(ctx) > 1 {
			return err
		}
		return r.again(ctx, middleware.OpConnect, err, func(ctx context.Context) error { return next(ctx, c) })
	}
}

func (r *retrier) again(ctx context.Context, op middleware.Op, err error, run func(context.Context) error) error {
	l := loop{cfg: r.cfg, n: 1}
	for {
		if err = l.fail(ctx, op, err, r.cfg.retryable(err)); err != nil {
			return err
		}
		l.n++
		if err = run(withAttempt(ctx, l.n)); err == nil {
			l.succeeded(ctx, op)
			return nil
		}
	}
}
