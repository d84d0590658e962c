package pgerror_test

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider/pgerror"
)

// The helpers classify a bare server error, wrapped by any layer.
func ExampleIs() {
	err := fmt.Errorf("create user: %w", &pgconn.PgError{Code: "23505", ConstraintName: "users_email_key"})
	if pgerror.Is(err, pgerror.ErrUniqueViolation) {
		fmt.Println("duplicate:", pgerror.Constraint(err))
	}
	// Output: duplicate: users_email_key
}

// With the middleware (or Wrap), plain errors.Is matches the sentinel and errors.As still
// extracts the *pgconn.PgError from the same value.
func ExampleWrap() {
	err := pgerror.Wrap(&pgconn.PgError{Severity: "ERROR", Code: "40001", Message: "could not serialize access"})
	var pgErr *pgconn.PgError
	fmt.Println(errors.Is(err, pgerror.ErrSerializationFailure), errors.As(err, &pgErr), err)
	// Output: true true ERROR: could not serialize access (SQLSTATE 40001)
}

// Codes missing from the table fall back to their class.
func ExampleClassify() {
	fmt.Println(pgerror.Classify(&pgconn.PgError{Code: "25P04"}), pgerror.IsRetryable(&pgconn.PgError{Code: "40P01"}))
	// Output: invalid_transaction_state true
}
