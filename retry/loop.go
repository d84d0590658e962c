package retry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
)

// Error is returned when the context ended while retrying: during the wait between
// attempts, or during an attempt after the first. errors.Is and errors.As find both the last
// database error (Err) and the context's error (Cause). When retrying stops for any other
// reason (attempts or time exhausted, an error that is not retryable) the last error is
// returned as it is, so its concrete type (*pgconn.PgError) does not change.
type Error struct {
	// Attempts is the number of attempts made.
	Attempts int
	// Err is the error of the last attempt that reached the database.
	Err error
	// Cause is the context's error: context.Canceled or context.DeadlineExceeded (or an error
	// wrapping one of them).
	Cause error
}

// Error describes both errors.
func (e *Error) Error() string {
	return fmt.Sprintf("retry: %v after %d attempt(s); last error: %v", e.Cause, e.Attempts, e.Err)
}

// Unwrap returns the last database error and the context's error.
func (e *Error) Unwrap() []error { return []error{e.Err, e.Cause} }

// loop is the state of one retried call. It is created on the first failure, so the happy
// path allocates nothing; its backoff is created on the first retry and never shared.
type loop struct {
	cfg   *config
	b     *backoff.ExponentialBackOff
	n     int   // attempts made
	last  error // the last error that was not the context's
	fixed bool  // the single repair retry for 26000 / 0A000 was used
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// oneShot reports the errors that pgx repairs by itself (it invalidates its statement cache):
// retried once per call, never more.
func oneShot(err error) bool {
	return pgerror.Classify(err) == pgerror.StalePlan
}

// fail decides, after attempt l.n failed with err, whether another attempt follows. It
// reports the attempt, waits, and returns nil to go on, or returns the error to give back.
func (l *loop) fail(ctx context.Context, op middleware.Op, err error, retry bool) error {
	ctxErr := ctx.Err()
	if ctxErr != nil {
		retry = false
	}
	if retry && oneShot(err) {
		if l.fixed {
			retry = false
		}
		l.fixed = true
	}
	if retry && l.n >= l.cfg.maxAttempts {
		retry = false
	}
	var delay time.Duration
	if retry {
		if l.b == nil {
			l.b = l.cfg.backOff()
		}
		if delay = l.b.NextBackOff(); delay == backoff.Stop {
			retry, delay = false, 0
		}
	}
	if f := l.cfg.onAttempt; f != nil {
		f(ctx, Attempt{Op: op, N: l.n, Err: err, Retry: retry, Delay: delay})
	}
	if !isCtxErr(err) {
		l.last = err
	}
	if !retry {
		if ctxErr != nil && l.n > 1 {
			return l.giveUp(err, ctxErr)
		}
		return err
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return l.giveUp(err, ctx.Err())
		}
	} else if ctx.Err() != nil {
		return l.giveUp(err, ctx.Err())
	}
	return nil
}

// giveUp builds the error returned when the context ended: the last database error joined
// with the context's.
func (l *loop) giveUp(err, ctxErr error) error {
	if isCtxErr(err) {
		if l.last == nil {
			return err
		}
		return &Error{Attempts: l.n, Err: l.last, Cause: err}
	}
	return &Error{Attempts: l.n, Err: err, Cause: ctxErr}
}

// succeeded reports a retried attempt that succeeded.
func (l *loop) succeeded(ctx context.Context, op middleware.Op) {
	if f := l.cfg.onAttempt; f != nil {
		f(ctx, Attempt{Op: op, N: l.n})
	}
}

type attemptKey struct{}

// withAttempt marks the context of attempt n (n >= 2; the first attempt runs on the caller's
// context untouched).
func withAttempt(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, attemptKey{}, n)
}

// AttemptFrom returns the number of the attempt a context belongs to: 1 for the first attempt
// (or a context that never crossed the retry middleware), 2 for the first retry, and so on.
// Middleware listed after retry (tenancy, routing) and pgx tracers see it in the context of
// each attempt; middleware listed before retry sees attempts through [WithOnAttempt].
func AttemptFrom(ctx context.Context) int {
	if n, ok := ctx.Value(attemptKey{}).(int); ok {
		return n
	}
	return 1
}

type idempotentKey struct{}

// Idempotent marks the statements run with the returned context as safe to run twice
// (a SELECT, an UPSERT that sets absolute values, a DELETE by key): the retry middleware then
// retries them also when their outcome is unknown (the request was sent and the connection
// broke before the answer). Never mark a statement such as UPDATE t SET n = n + 1.
// Idempotent has no effect on COMMIT or inside a transaction.
func Idempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, idempotentKey{}, true)
}

func isIdempotent(ctx context.Context) bool {
	v, _ := ctx.Value(idempotentKey{}).(bool)
	return v
}
