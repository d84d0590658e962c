// Package retry retries PostgreSQL operations without ever applying a write twice.
//
// Two tools, for two units of work:
//
//   - [New] is a middleware for autocommit statements, connection establishment and BEGIN.
//     It never retries inside a transaction, a COMMIT, after the context ended, after rows
//     were returned, or an operation whose request was sent before the connection broke
//     (the outcome is unknown) unless the caller marked it [Idempotent].
//   - [Tx] runs a whole transaction closure again on serialization failures (40001),
//     deadlocks (40P01), also when raised at COMMIT, and on connection loss before COMMIT
//     was sent. A COMMIT whose outcome is unknown returns [ErrCommitOutcomeUnknown] and is
//     never run again.
//
// Which errors are retryable is [pgerror.Class.Retryable] by default; [WithRetryIf] and
// [WithCodes] change it. Waits come from a cenkalti/backoff/v4 exponential backoff with
// jitter, created afresh for each call (never shared between goroutines), bounded by
// [WithMaxAttempts] and [WithMaxElapsedTime], and they end early when the context does.
// When the context ends while retrying, the returned [*Error] matches both the context's
// error and the last database error under errors.Is. In every other case the last error is
// returned as it is, so a *pgconn.PgError keeps its type.
//
// # Seeing attempts
//
// [WithOnAttempt] reports every failed attempt (and a retried attempt that succeeded) with
// the context the middleware received: a tracing middleware listed before retry finds its
// span there. Middleware listed after retry, and pgx tracers, read the attempt number of the
// context they receive with [AttemptFrom]. The happy path (first attempt succeeds) reports
// nothing and allocates nothing.
//
// # database/sql's own retries
//
// database/sql runs an operation again, up to three times in all, when the driver returns
// driver.ErrBadConn. pgprovider returns driver.ErrBadConn only when nothing of the operation
// reached the server, and it replaces a backend found closed before an operation runs outside
// a transaction, so the retry middleware's next attempt reaches a fresh backend and
// driver.ErrBadConn rarely leaves it. When it does (every attempt failed before sending),
// database/sql repeats the whole call: a statement is then tried at most
// 3 × [WithMaxAttempts] times, still without ever being applied twice.
//
// The middleware waits between attempts inside the driver call, holding the connection;
// [Tx] waits with no connection held.
package retry
