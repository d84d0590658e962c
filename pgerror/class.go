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
	"github.com/pgprovider/pgprovider"
)

// Class is the classification of an error: a specific condition (unique violation, deadlock)
// when the SQLSTATE is known, the SQLSTATE class otherwise.
type Class uint8

// The classes. The first group has a sentinel each; the second is the class-level fallback.
const (
	ClassNone                  Class = iota // nil, or an error this package does not classify
	ClassUniqueViolation                    // 23505
	ClassForeignKeyViolation                // 23503
	ClassNotNullViolation                   // 23502
	ClassCheckViolation                     // 23514
	ClassExclusionViolation                 // 23P01
	ClassSerializationFailure               // 40001
	ClassDeadlock                           // 40P01
	ClassQueryCanceled                      // 57014
	ClassReadOnlyTransaction                // 25006
	ClassConnectionLost                     // class 08, 57P01-57P05, network errors, outcome unknown
	ClassInsufficientResources              // class 53
	ClassUndefinedTable                     // 42P01
	ClassUndefinedColumn                    // 42703

	ClassContext                 // context.Canceled or context.DeadlineExceeded
	ClassIntegrityViolation      // other codes of class 23
	ClassTransactionRollback     // other codes of class 40
	ClassInvalidTransactionState // class 25 (25P02 in failed transaction, 25P03, 25P04, ...)
	ClassSyntaxOrAccess          // other codes of class 42
	ClassDataException           // class 22
	ClassAuthorization           // class 28 (invalid authorization) and 42501 is class 42
	ClassInvalidCatalog          // class 3D (database does not exist)
	ClassInvalidSchema           // class 3F
	ClassFeatureNotSupported     // class 0A (incl. "cached plan must not change result type")
	ClassInvalidStatementName    // class 26 (prepared statement does not exist)
	ClassProgramLimit            // class 54
	ClassObjectNotInPrerequisite // class 55 (55P03 lock not available, ...)
	ClassOperatorIntervention    // other codes of class 57
	ClassSystemError             // class 58
	ClassInternal                // class XX
	ClassOther                   // any other server error
	classCount
)

var classNames = [...]string{
	ClassNone:                    "none",
	ClassUniqueViolation:         "unique_violation",
	ClassForeignKeyViolation:     "foreign_key_violation",
	ClassNotNullViolation:        "not_null_violation",
	ClassCheckViolation:          "check_violation",
	ClassExclusionViolation:      "exclusion_violation",
	ClassSerializationFailure:    "serialization_failure",
	ClassDeadlock:                "deadlock_detected",
	ClassQueryCanceled:           "query_canceled",
	ClassReadOnlyTransaction:     "read_only_sql_transaction",
	ClassConnectionLost:          "connection_lost",
	ClassInsufficientResources:   "insufficient_resources",
	ClassUndefinedTable:          "undefined_table",
	ClassUndefinedColumn:         "undefined_column",
	ClassContext:                 "context",
	ClassIntegrityViolation:      "integrity_constraint_violation",
	ClassTransactionRollback:     "transaction_rollback",
	ClassInvalidTransactionState: "invalid_transaction_state",
	ClassSyntaxOrAccess:          "syntax_error_or_access_rule_violation",
	ClassDataException:           "data_exception",
	ClassAuthorization:           "invalid_authorization_specification",
	ClassInvalidCatalog:          "invalid_catalog_name",
	ClassInvalidSchema:           "invalid_schema_name",
	ClassFeatureNotSupported:     "feature_not_supported",
	ClassInvalidStatementName:    "invalid_sql_statement_name",
	ClassProgramLimit:            "program_limit_exceeded",
	ClassObjectNotInPrerequisite: "object_not_in_prerequisite_state",
	ClassOperatorIntervention:    "operator_intervention",
	ClassSystemError:             "system_error",
	ClassInternal:                "internal_error",
	ClassOther:                   "other",
}

// String returns the snake_case name of the class, after PostgreSQL's condition names.
func (c Class) String() string {
	if c < classCount {
		return classNames[c]
	}
	return "unknown"
}

// codes maps exact SQLSTATEs to their class; byClass maps the two-character SQLSTATE class.
var codes = map[string]Class{
	"23505": ClassUniqueViolation,
	"23503": ClassForeignKeyViolation,
	"23502": ClassNotNullViolation,
	"23514": ClassCheckViolation,
	"23P01": ClassExclusionViolation,
	"40001": ClassSerializationFailure,
	"40P01": ClassDeadlock,
	"57014": ClassQueryCanceled,
	"25006": ClassReadOnlyTransaction,
	"57P01": ClassConnectionLost, // admin_shutdown
	"57P02": ClassConnectionLost, // crash_shutdown
	"57P03": ClassConnectionLost, // cannot_connect_now
	"57P04": ClassConnectionLost, // database_dropped
	"57P05": ClassConnectionLost, // idle_session_timeout
	"42P01": ClassUndefinedTable,
	"42703": ClassUndefinedColumn,
}

var byClass = map[string]Class{
	"08": ClassConnectionLost,
	"0A": ClassFeatureNotSupported,
	"22": ClassDataException,
	"23": ClassIntegrityViolation,
	"25": ClassInvalidTransactionState,
	"26": ClassInvalidStatementName,
	"28": ClassAuthorization,
	"3D": ClassInvalidCatalog,
	"3F": ClassInvalidSchema,
	"40": ClassTransactionRollback,
	"42": ClassSyntaxOrAccess,
	"53": ClassInsufficientResources,
	"54": ClassProgramLimit,
	"55": ClassObjectNotInPrerequisite,
	"57": ClassOperatorIntervention,
	"58": ClassSystemError,
	"XX": ClassInternal,
}

// ClassOf classifies a SQLSTATE: the exact code if listed, its two-character class otherwise.
// An empty or malformed code is ClassOther.
func ClassOf(code string) Class {
	if c, ok := codes[code]; ok {
		return c
	}
	if len(code) == 5 {
		if c, ok := byClass[code[:2]]; ok {
			return c
		}
	}
	return ClassOther
}

// Classify returns the class of err, looking through every layer of wrapping. A server error
// (*pgconn.PgError) is classified by its SQLSTATE; a lost connection (an outcome-unknown
// error, driver.ErrBadConn, sql.ErrConnDone, a network error, a failed connection attempt
// without a server error) is ClassConnectionLost; context errors are ClassContext. Anything
// else, sql.ErrNoRows included, is ClassNone.
func Classify(err error) Class {
	if err == nil {
		return ClassNone
	}
	if c, ok := err.(*Error); ok {
		return c.class
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return ClassOf(pg.Code)
	}
	switch {
	case errors.Is(err, pgprovider.ErrOutcomeUnknown), errors.Is(err, driver.ErrBadConn),
		errors.Is(err, sql.ErrConnDone), errors.Is(err, io.ErrUnexpectedEOF):
		return ClassConnectionLost
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ClassContext
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return ClassConnectionLost
	}
	var ne net.Error
	if errors.As(err, &ne) && !ne.Timeout() {
		return ClassConnectionLost
	}
	return ClassNone
}

// IsRetryable reports whether running the failed unit again (an autocommit statement or a
// whole transaction, never a single statement inside a transaction) can succeed and cannot
// apply anything twice. It is the default policy of package retry:
//
//   - yes when nothing reached the server: driver.ErrBadConn, pgconn.SafeToRetry, a failed
//     connection attempt without a server error;
//   - yes for 40001 serialization_failure and 40P01 deadlock_detected;
//   - yes for server states where the statement did not run: 57P01 admin_shutdown,
//     57P02 crash_shutdown, 57P03 cannot_connect_now, 57P05 idle_session_timeout,
//     53300 too_many_connections, 08001 and 08004 (connection never established);
//   - yes for 26000 (prepared statement does not exist) and 0A000 "cached plan must not
//     change result type", which pgx repairs on the next run;
//   - no for context errors and for errors whose outcome is unknown (the request was sent and
//     the connection broke before the answer: pgprovider.ErrOutcomeUnknown), and for
//     everything else.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, pgprovider.ErrOutcomeUnknown) {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return RetryableCode(pg.Code, pg.Message)
	}
	if errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	return pgconn.SafeToRetry(err)
}

// RetryableCode reports whether a server error with this SQLSTATE and message is retryable
// by the rules of [IsRetryable]. The message matters only for 0A000.
func RetryableCode(code, message string) bool {
	switch code {
	case "40001", "40P01", "57P01", "57P02", "57P03", "57P05", "53300", "08001", "08004", "26000":
		return true
	case "0A000":
		return strings.Contains(message, "cached plan must not change result type")
	}
	return false
}
