package pgerror

// Class is what an error means to code that must decide what to do next: run the operation
// again, report a conflict, mark a server down. [Classify] gives the class of any error.
//
// A Class is also an error value, for errors.Is: errors.Is(err, pgerror.UniqueViolation)
// matches an error the [Middleware] (or [Wrap]) classified, and any *[OutcomeUnknownError]
// matches OutcomeUnknown. [Classify] needs no wrapping.
type Class uint8

// The classes. A server error whose SQLSTATE is not listed is [Server]; a client error this
// package cannot place is [Other].
const (
	None Class = iota // nil, or not a failure: sql.ErrNoRows, driver.ErrSkip, io.EOF

	// What happened to the connection.
	NotSent        // nothing reached the server: driver.ErrBadConn, a connection never established (08001, 08004, a dial error)
	OutcomeUnknown // the request was sent and the connection broke before the answer (*OutcomeUnknownError)
	ConnectionLost // the connection broke, with no word on what ran: class 08, network errors, an unexpected EOF
	Terminated     // the server ended the session and aborted what ran: 57P01 admin_shutdown, 57P02 crash_shutdown, 57P05 idle_session_timeout
	Unavailable    // the server refused a connection for now: 57P03 cannot_connect_now, 53300 too_many_connections
	Authentication // class 28: a wrong password or user, no pg_hba.conf entry
	NoDatabase     // 3D000: the database does not exist

	// What the caller asked for.
	Canceled      // context.Canceled
	Timeout       // context.DeadlineExceeded
	QueryCanceled // 57014: statement_timeout, pg_cancel_backend, a cancel request

	// Conflicts that a new attempt can resolve.
	Serialization // 40001 serialization_failure
	Deadlock      // 40P01 deadlock_detected
	ReadOnly      // 25006: a write in a read-only transaction, or on a standby
	StalePlan     // 0A000 "cached plan must not change result type", 26000 prepared statement does not exist

	// Errors of the statement itself.
	UniqueViolation     // 23505
	ForeignKeyViolation // 23503
	NotNullViolation    // 23502
	CheckViolation      // 23514
	ExclusionViolation  // 23P01
	IntegrityViolation  // any other code of class 23
	UndefinedTable      // 42P01
	UndefinedColumn     // 42703
	Server              // any other server error
	Other               // a client error this package cannot place (an argument pgx cannot encode, ...)
	classCount
)

var classNames = [...]string{
	None:                "none",
	NotSent:             "not_sent",
	OutcomeUnknown:      "outcome_unknown",
	ConnectionLost:      "connection_lost",
	Terminated:          "terminated",
	Unavailable:         "unavailable",
	Authentication:      "authentication",
	NoDatabase:          "no_database",
	Canceled:            "canceled",
	Timeout:             "timeout",
	QueryCanceled:       "query_canceled",
	Serialization:       "serialization_failure",
	Deadlock:            "deadlock_detected",
	ReadOnly:            "read_only",
	StalePlan:           "stale_plan",
	UniqueViolation:     "unique_violation",
	ForeignKeyViolation: "foreign_key_violation",
	NotNullViolation:    "not_null_violation",
	CheckViolation:      "check_violation",
	ExclusionViolation:  "exclusion_violation",
	IntegrityViolation:  "integrity_violation",
	UndefinedTable:      "undefined_table",
	UndefinedColumn:     "undefined_column",
	Server:              "server",
	Other:               "other",
}

// String returns the snake_case name of the class, e.g. "unique_violation": a bounded value
// for metric and span attributes.
func (c Class) String() string {
	if c < classCount {
		return classNames[c]
	}
	return "unknown"
}

// Error returns the name of the class, as String does, so that a Class prints the same
// whether it is formatted as an error or as a value.
func (c Class) Error() string { return c.String() }

// Retryable reports whether running the failed unit again (an autocommit statement or a
// whole transaction, never one statement inside a transaction) can succeed without applying
// anything twice: yes for NotSent, Terminated, Unavailable, Serialization and Deadlock; no for
// everything else, OutcomeUnknown and ConnectionLost included (the request may have been
// applied), and StalePlan (the driver already ran such a statement once more, described
// afresh, where that is possible: outside a transaction). It is the default policy of package
// retry.
func (c Class) Retryable() bool {
	switch c {
	case NotSent, Terminated, Unavailable, Serialization, Deadlock:
		return true
	}
	return false
}

// Connection reports whether the class says the connection or the server is unusable, as
// opposed to an error of the statement: NotSent, OutcomeUnknown, ConnectionLost, Terminated
// and Unavailable. A routing middleware marks the server suspect on these.
func (c Class) Connection() bool {
	return c >= NotSent && c <= Unavailable
}
