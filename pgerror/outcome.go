package pgerror

import (
	"fmt"

	"github.com/pgprovider/pgprovider/middleware"
)

// OutcomeUnknownError reports that an operation was sent to the server and the connection was
// lost before the server's answer arrived: the statement may or may not have been applied.
// pgprovider never runs such an operation again, and never lets database/sql do so (it does
// not match driver.ErrBadConn). errors.Is(err, [OutcomeUnknown]) matches it, and errors.Is and
// errors.As reach the network error through Unwrap.
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

// Is matches [OutcomeUnknown].
func (e *OutcomeUnknownError) Is(target error) bool { return target == OutcomeUnknown }
