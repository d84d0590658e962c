package pgerror

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// codes maps exact SQLSTATEs to their class; byClass maps two-character SQLSTATE classes.
var codes = map[string]Class{
	"08001": NotSent, // sqlclient_unable_to_establish_sqlconnection
	"08004": NotSent, // sqlserver_rejected_establishment_of_sqlconnection
	"57P01": Terminated,
	"57P02": Terminated,
	"57P05": Terminated,
	"57P03": Unavailable,
	"53300": Unavailable,
	"3D000": NoDatabase,
	"57014": QueryCanceled,
	"40001": Serialization,
	"40P01": Deadlock,
	"25006": ReadOnly,
	"26000": StalePlan,
	"23505": UniqueViolation,
	"23503": ForeignKeyViolation,
	"23502": NotNullViolation,
	"23514": CheckViolation,
	"23P01": ExclusionViolation,
	"42P01": UndefinedTable,
	"42703": UndefinedColumn,
}

var byClass = map[string]Class{
	"08": ConnectionLost,
	"23": IntegrityViolation,
	"28": Authentication,
}

// code classifies a SQLSTATE and its message (which matters only for 0A000).
func code(c, message string) Class {
	if cl, ok := codes[c]; ok {
		return cl
	}
	if c == "0A000" && strings.Contains(message, "cached plan must not change result type") {
		return StalePlan
	}
	if len(c) == 5 {
		if cl, ok := byClass[c[:2]]; ok {
			return cl
		}
	}
	return Server
}

// Classify returns the class of err, looking through every layer of wrapping:
//
//   - a server error (*pgconn.PgError) by its SQLSTATE;
//   - context.Canceled as Canceled and context.DeadlineExceeded as Timeout, also when the
//     connection was lost with them (the caller's decision ends the operation; errors.Is still
//     matches OutcomeUnknown where the driver reported it);
//   - an *OutcomeUnknownError as OutcomeUnknown;
//   - driver.ErrBadConn, pgx errors that say nothing was sent, and a failed connection
//     attempt without a server error as NotSent;
//   - sql.ErrConnDone, io.ErrUnexpectedEOF, net.ErrClosed and network errors as ConnectionLost;
//   - nil, sql.ErrNoRows, driver.ErrSkip and io.EOF as None, and anything else as Other.
func Classify(err error) Class {
	if err == nil {
		return None
	}
	if w, ok := err.(*classified); ok {
		return w.class
	}
	if pg, ok := find[*pgconn.PgError](err); ok {
		return code(pg.Code, pg.Message)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return Timeout
	}
	if _, ok := find[*OutcomeUnknownError](err); ok {
		return OutcomeUnknown
	}
	switch {
	case errors.Is(err, driver.ErrBadConn):
		return NotSent
	case errors.Is(err, sql.ErrNoRows), errors.Is(err, driver.ErrSkip), err == io.EOF:
		return None
	case errors.Is(err, sql.ErrConnDone), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return ConnectionLost
	}
	if _, ok := find[*pgconn.ConnectError](err); ok || pgconn.SafeToRetry(err) {
		return NotSent
	}
	var ne net.Error
	if errors.As(err, &ne) && !ne.Timeout() || errors.Is(err, io.EOF) {
		return ConnectionLost
	}
	return Other
}

// Code returns the SQLSTATE of the server error in err, or "" when err carries none.
func Code(err error) string {
	if pg, ok := find[*pgconn.PgError](err); ok {
		return pg.Code
	}
	return ""
}

// Constraint returns the name of the constraint a server error names (unique, foreign-key,
// check, exclusion and some not-null violations), or "".
func Constraint(err error) string {
	if pg, ok := find[*pgconn.PgError](err); ok {
		return pg.ConstraintName
	}
	return ""
}

// find is errors.As for a concrete error type, without the allocation errors.As costs: it
// walks Unwrap() error and Unwrap() []error chains.
func find[T error](err error) (T, bool) {
	for err != nil {
		if t, ok := err.(T); ok {
			return t, true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if t, ok := find[T](e); ok {
					return t, true
				}
			}
			err = nil
		default:
			err = nil
		}
	}
	var zero T
	return zero, false
}
