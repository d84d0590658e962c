package pgprovider

import (
	"errors"
	"fmt"

	"github.com/pgprovider/pgprovider/middleware"
)

// ErrOutcomeUnknown is matched (errors.Is) by every error that reports an operation whose
// request reached the connection, after which the connection broke before the server said
// whether it succeeded: the statement may or may not have been applied. pgprovider never
// retries such an operation, and never lets database/sql retry it.
var ErrOutcomeUnknown = errors.New("pgprovider: outcome unknown")

// OutcomeUnknownError reports that an operation was sent to the server and the connection was
// lost before the server's answer arrived. errors.Is(err, ErrOutcomeUnknown) matches it, and
// errors.Is / errors.As reach the network error through Unwrap. It never matches
// driver.ErrBadConn, so database/sql does not run the statement again.
type OutcomeUnknownError struct {
	// Op is the operation whose outcome is unknown (exec, query, commit, ...).
	Op middleware.Op
	// Err is the network error that broke the connection.
	Err error
}

// Error describes the operation and the network error.
func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("pgprovider: %s outcome unknown: connection lost after the request was sent: %v", e.Op, e.Err)
}

// Unwrap returns the network error.
func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// Is matches [ErrOutcomeUnknown].
func (e *OutcomeUnknownError) Is(target error) bool { return target == ErrOutcomeUnknown }

// errConnLost stands for the network error when the connection broke without one being seen.
var errConnLost = errors.New("connection closed")
