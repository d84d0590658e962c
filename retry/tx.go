package retry

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"

	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
)

// ErrCommitOutcomeUnknown is matched (errors.Is) by the error [Tx] returns when COMMIT was
// sent and the connection broke before the server answered: the transaction may or may not
// have been committed. Tx never runs the closure again in that case. The same error also
// matches pgerror.OutcomeUnknown.
var ErrCommitOutcomeUnknown = errors.New("retry: commit outcome unknown")

// commitUnknownError is the error [Tx] returns when the outcome of COMMIT is unknown.
// errors.Is matches [ErrCommitOutcomeUnknown] and pgerror.OutcomeUnknown; Unwrap gives the
// error COMMIT returned.
type commitUnknownError struct {
	err error // the error COMMIT returned
}

func (e *commitUnknownError) Error() string {
	return "retry: commit outcome unknown, the transaction may or may not have been committed: " + e.err.Error()
}

func (e *commitUnknownError) Unwrap() error { return e.err }

func (e *commitUnknownError) Is(target error) bool {
	return target == ErrCommitOutcomeUnknown || target == pgerror.OutcomeUnknown
}

// Tx runs fn in a transaction begun with txOpts and commits it, and runs the whole of it again
// (a new BEGIN, fn, COMMIT) when that is safe and useful:
//
//   - BEGIN failed with a retryable error;
//   - fn returned an error that is retryable by the configured set (40001 serialization
//     failure, 40P01 deadlock by default), or that says the connection was lost before COMMIT
//     was sent (the transaction cannot have committed), or 25P03 (idle-in-transaction timeout);
//   - COMMIT failed with 40001 or 40P01 (the server rolled back), or before anything was sent.
//
// fn sees a fresh *sql.Tx each attempt and must not commit or roll it back; it returns errors
// wrapped with %w (or unwrapped) so Tx can classify them. It must have no effects outside the
// transaction that cannot be repeated. When fn returns an error, Tx rolls back and returns
// that error unchanged (unless it retries). When fn panics, Tx rolls back and panics again
// with the same value.
//
// When COMMIT was sent and the connection broke before the answer, Tx returns an error that
// matches [ErrCommitOutcomeUnknown] and pgerror.OutcomeUnknown (errors.Unwrap gives COMMIT's
// own error) and never runs fn again. When ctx ends, Tx returns promptly
// with an [*Error] that matches both the context's error and the last database error.
//
// Tx holds no connection while it waits between attempts: other goroutines can use the pool.
func Tx(ctx context.Context, db *sql.DB, txOpts *sql.TxOptions, fn func(*sql.Tx) error, opts ...Option) error {
	cfg := newConfig(opts)
	l := loop{cfg: cfg}
	for {
		l.n++
		op, err := runTx(ctx, db, txOpts, fn)
		if err == nil {
			if l.n > 1 {
				l.succeeded(ctx, op)
			}
			return nil
		}
		if err = l.fail(ctx, op, err, txRetryable(cfg, op, err)); err != nil {
			return err
		}
	}
}

// opFn is the Op of an attempt whose transaction function failed: no operation of the chain.
const opFn middleware.Op = 0

// runTx makes one attempt. op is the operation that failed: OpBegin, OpCommit, or 0 (opFn)
// for fn; OpCommit on success.
func runTx(ctx context.Context, db *sql.DB, txOpts *sql.TxOptions, fn func(*sql.Tx) error) (op middleware.Op, err error) {
	tx, err := db.BeginTx(ctx, txOpts)
	if err != nil {
		return middleware.OpBegin, err
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return opFn, err
	}
	if err := tx.Commit(); err != nil {
		if commitUnknown(err) {
			return middleware.OpCommit, &commitUnknownError{err: err}
		}
		return middleware.OpCommit, err
	}
	return middleware.OpCommit, nil
}

// commitUnknown reports a COMMIT error after which the transaction may have committed: the
// connection was lost once COMMIT may have been sent. driver.ErrBadConn means the driver sent
// nothing; a server error other than a lost connection means the server answered.
func commitUnknown(err error) bool {
	if errors.Is(err, pgerror.OutcomeUnknown) {
		return true
	}
	if errors.Is(err, driver.ErrBadConn) || isCtxErr(err) {
		return false
	}
	c := pgerror.Classify(err)
	return c == pgerror.ConnectionLost || c == pgerror.Terminated
}

func txRetryable(cfg *config, op middleware.Op, err error) bool {
	if errors.Is(err, ErrCommitOutcomeUnknown) {
		return false
	}
	if cfg.retryable(err) {
		return true
	}
	if op != opFn || isCtxErr(err) {
		return false
	}
	// fn failed: the transaction did not commit, whatever happened to the connection.
	return pgerror.Classify(err).Connection() || pgerror.Code(err) == "25P03"
}
