// Package pgerror classifies PostgreSQL errors without changing their type.
//
// pgprovider never changes the concrete type of a server error: code that type-asserts or
// errors.As-es to *pgconn.PgError keeps working. This package adds classification on top, in
// two ways that agree with each other:
//
//   - Helpers that work on any error, wrapped by any layer, without wrapping it:
//     [Is](err, [ErrUniqueViolation]), [Classify], [IsRetryable], [Code], [Constraint],
//     [Table], [Column], [Fatal].
//   - An opt-in middleware, [Middleware], that wraps the errors the driver returns in an
//     [*Error], so that plain errors.Is(err, pgerror.ErrUniqueViolation) matches, while
//     errors.As(err, &pgErr) still extracts the *pgconn.PgError from the same value and
//     Error() returns the original message.
//
// Codes are classified by an exact SQLSTATE table first and by their two-character class
// next, so a code this package does not list (for example 25P04 transaction_timeout, added
// in PostgreSQL 17) still gets its class ([ClassInvalidTransactionState]).
//
// driver.ErrBadConn, context errors, sql.ErrNoRows and sql.ErrTxDone are never wrapped: they
// reach database/sql and the caller as the very same values.
package pgerror
