package pgerror_test

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider/pgerror"
)

// Classify works on a bare server error, wrapped by any layer.
func ExampleClassify() {
	err := fmt.Errorf("create user: %w", &pgconn.PgError{Code: "23505", ConstraintName: "users_email_key"})
	if pgerror.Classify(err) == pgerror.UniqueViolation {
		fmt.Println("duplicate:", pgerror.Constraint(err))
	}
	fmt.Println(pgerror.Classify(&pgconn.PgError{Code: "40P01"}).Retryable())
	// Output:
	// duplicate: users_email_key
	// true
}

// With the middleware (or Wrap), plain errors.Is matches the class and errors.As still
// extracts the *pgconn.PgError from the same value.
func ExampleWrap() {
	err := pgerror.Wrap(&pgconn.PgError{Severity: "ERROR", Code: "40001", Message: "could not serialize access"})
	var pgErr *pgconn.PgError
	fmt.Println(errors.Is(err, pgerror.Serialization), errors.As(err, &pgErr), err)
	// Output: true true ERROR: could not serialize access (SQLSTATE 40001)
}

// An operation whose answer was lost with the connection matches OutcomeUnknown.
func ExampleOutcomeUnknownError() {
	var err error = &pgerror.OutcomeUnknownError{Err: errors.New("connection reset by peer")}
	fmt.Println(errors.Is(err, pgerror.OutcomeUnknown), pgerror.Classify(err).Retryable())
	// Output: true false
}
