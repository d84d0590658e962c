package metrics

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
)

// Class describes an operation's error for telemetry, with bounded values only (never an
// error message).
type Class struct {
	// Type is the error.type value: the SQLSTATE for a server error, else one of "canceled",
	// "timeout", "bad_conn", "outcome_unknown" or the Go type of the error.
	Type string
	// SQLState is the server's SQLSTATE, or "" when the server did not answer with an error.
	SQLState string
	// Error reports whether the outcome is an error for span status purposes: false for
	// nil, context.Canceled, sql.ErrNoRows and driver.ErrSkip.
	Error bool
}

// Classify describes err. It allocates only for errors that are neither server errors nor
// one of the well-known kinds.
func Classify(err error) Class {
	if err == nil {
		return Class{}
	}
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr):
		return Class{Type: pgErr.Code, SQLState: pgErr.Code, Error: true}
	case errors.Is(err, context.Canceled):
		return Class{Type: "canceled"}
	case errors.Is(err, sql.ErrNoRows):
		return Class{Type: "no_rows"}
	case errors.Is(err, driver.ErrSkip):
		return Class{Type: "skip"}
	case errors.Is(err, context.DeadlineExceeded):
		return Class{Type: "timeout", Error: true}
	case errors.Is(err, driver.ErrBadConn):
		return Class{Type: "bad_conn", Error: true}
	case errors.Is(err, pgprovider.ErrOutcomeUnknown):
		return Class{Type: "outcome_unknown", Error: true}
	}
	return Class{Type: fmt.Sprintf("%T", err), Error: true}
}

// sqlstateClass returns the two-character class of a SQLSTATE, or "".
func sqlstateClass(code string) string {
	if len(code) != 5 {
		return ""
	}
	for i := 0; i < 5; i++ {
		c := code[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return ""
		}
	}
	return code[:2]
}
