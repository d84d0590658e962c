package pgerror

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"

	"github.com/jackc/pgx/v5/pgconn"
)

// sentinel is the type of the Err* values: an error that stands for one [Class].
type sentinel struct {
	class Class
	msg   string
}

func (s *sentinel) Error() string { return s.msg }

func newSentinel(c Class) *sentinel { return &sentinel{class: c, msg: "pgerror: " + c.String()} }

// The sentinels. errors.Is matches them on an [*Error] (see [Middleware] and [Wrap]); [Is]
// matches them on any error, wrapped or not.
var (
	// ErrUniqueViolation matches SQLSTATE 23505.
	ErrUniqueViolation error = newSentinel(ClassUniqueViolation)
	// ErrForeignKeyViolation matches SQLSTATE 23503.
	ErrForeignKeyViolation error = newSentinel(ClassForeignKeyViolation)
	// ErrNotNullViolation matches SQLSTATE 23502.
	ErrNotNullViolation error = newSentinel(ClassNotNullViolation)
	// ErrCheckViolation matches SQLSTATE 23514.
	ErrCheckViolation error = newSentinel(ClassCheckViolation)
	// ErrExclusionViolation matches SQLSTATE 23P01.
	ErrExclusionViolation error = newSentinel(ClassExclusionViolation)
	// ErrSerializationFailure matches SQLSTATE 40001.
	ErrSerializationFailure error = newSentinel(ClassSerializationFailure)
	// ErrDeadlock matches SQLSTATE 40P01.
	ErrDeadlock error = newSentinel(ClassDeadlock)
	// ErrQueryCanceled matches SQLSTATE 57014 (statement_timeout, pg_cancel_backend, a
	// cancel request). It does not match context errors, which keep their own identity.
	ErrQueryCanceled error = newSentinel(ClassQueryCanceled)
	// ErrReadOnlyTransaction matches SQLSTATE 25006 (a write in a read-only transaction or on
	// a standby).
	ErrReadOnlyTransaction error = newSentinel(ClassReadOnlyTransaction)
	// ErrConnectionLost matches SQLSTATE class 08 and 57P01-57P05, errors whose outcome is
	// unknown (pgprovider.ErrOutcomeUnknown), driver.ErrBadConn, sql.ErrConnDone, network
	// errors and failed connection attempts that carry no server error.
	ErrConnectionLost error = newSentinel(ClassConnectionLost)
	// ErrInsufficientResources matches SQLSTATE class 53 (53300 too_many_connections,
	// 53100 disk_full, ...).
	ErrInsufficientResources error = newSentinel(ClassInsufficientResources)
	// ErrUndefinedTable matches SQLSTATE 42P01.
	ErrUndefinedTable error = newSentinel(ClassUndefinedTable)
	// ErrUndefinedColumn matches SQLSTATE 42703.
	ErrUndefinedColumn error = newSentinel(ClassUndefinedColumn)
)

// Is reports whether err, wrapped or not, is classified as the condition sentinel stands for.
// Unlike errors.Is it needs no [*Error] wrapper: it works on a bare *pgconn.PgError. For any
// target that is not one of this package's sentinels it is errors.Is.
func Is(err, target error) bool {
	s, ok := target.(*sentinel)
	if !ok {
		return errors.Is(err, target)
	}
	return err != nil && Classify(err) == s.class
}

// Error is a classified error: it matches the sentinel of its class under errors.Is, and
// unwraps to the original error, so errors.As still reaches the *pgconn.PgError (or the
// *pgprovider.OutcomeUnknownError) and errors.Is every other error in the chain. Error()
// returns the original message unchanged.
type Error struct {
	err   error
	class Class
}

// Error returns the message of the original error.
func (e *Error) Error() string { return e.err.Error() }

// Unwrap returns the original error.
func (e *Error) Unwrap() error { return e.err }

// Is matches the sentinel of the error's class.
func (e *Error) Is(target error) bool {
	s, ok := target.(*sentinel)
	return ok && s.class == e.class
}

// Class returns the classification of the error.
func (e *Error) Class() Class { return e.class }

// Wrap classifies err and returns it wrapped in an [*Error]. It returns err itself when err is
// nil, already contains an *Error (wrapping is idempotent), is one of the values that must keep
// their identity (driver.ErrBadConn, context.Canceled, context.DeadlineExceeded,
// sql.ErrNoRows, sql.ErrTxDone, sql.ErrConnDone, io.EOF), or is not classified.
func Wrap(err error) error {
	switch err {
	case nil, driver.ErrBadConn, context.Canceled, context.DeadlineExceeded,
		sql.ErrNoRows, sql.ErrTxDone, sql.ErrConnDone, io.EOF:
		return err
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	c := Classify(err)
	if c == ClassNone || c == ClassContext {
		return err
	}
	return &Error{err: err, class: c}
}

func pgError(err error) *pgconn.PgError {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg
	}
	return nil
}

// Code returns the SQLSTATE of the server error in err, or "" when err carries none.
func Code(err error) string {
	if pg := pgError(err); pg != nil {
		return pg.Code
	}
	return ""
}

// Constraint returns the name of the constraint a server error reports (unique, foreign-key,
// check, exclusion and some not-null violations), or "". PostgreSQL does not always name one.
func Constraint(err error) string {
	if pg := pgError(err); pg != nil {
		return pg.ConstraintName
	}
	return ""
}

// Table returns the table a server error reports, or "". It is not schema-qualified; see
// Schema.
func Table(err error) string {
	if pg := pgError(err); pg != nil {
		return pg.TableName
	}
	return ""
}

// Schema returns the schema of the table a server error reports, or "".
func Schema(err error) string {
	if pg := pgError(err); pg != nil {
		return pg.SchemaName
	}
	return ""
}

// Column returns the column a server error reports (not-null violations), or "".
func Column(err error) string {
	if pg := pgError(err); pg != nil {
		return pg.ColumnName
	}
	return ""
}

// Fatal reports whether err carries a server error of severity FATAL or PANIC: the server
// closed the connection after sending it, so the connection is unusable.
func Fatal(err error) bool {
	pg := pgError(err)
	if pg == nil {
		return false
	}
	sev := pg.SeverityUnlocalized
	if sev == "" {
		sev = pg.Severity
	}
	return sev == "FATAL" || sev == "PANIC"
}
