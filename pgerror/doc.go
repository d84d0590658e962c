// Package pgerror is pgprovider's one error classifier: what an error means to the code that
// must decide what to do next. Retry, tenancy, replica routing, the listener, metrics, tracing
// and logging all classify with [Classify], so they agree.
//
// pgprovider never changes the concrete type of a server error: code that errors.As-es to
// *pgconn.PgError keeps working. Classification comes on top, in two ways that agree:
//
//   - [Classify] works on any error, wrapped by any layer: pgerror.Classify(err) ==
//     pgerror.UniqueViolation.
//   - The opt-in [Middleware] (or [Wrap]) attaches the class to the errors the driver returns,
//     so that plain errors.Is(err, pgerror.UniqueViolation) matches while errors.As still
//     extracts the *pgconn.PgError and Error() returns the original message.
//
// An *[OutcomeUnknownError] reports an operation sent to the server whose answer was lost with
// the connection: errors.Is(err, pgerror.OutcomeUnknown) matches it, wrapped or not.
//
// driver.ErrBadConn, context errors and sql.ErrTxDone are never wrapped: they reach
// database/sql and the caller as the very same values.
package pgerror
