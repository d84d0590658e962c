package pgerror_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
)

func pg(code string) *pgconn.PgError {
	return &pgconn.PgError{Severity: "ERROR", Code: code, Message: "msg " + code}
}

func TestClassify(t *testing.T) {
	netErr := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	tests := []struct {
		name      string
		err       error
		class     pgerror.Class
		sentinel  error
		retryable bool
	}{
		{"nil", nil, pgerror.ClassNone, nil, false},
		{"unique", pg("23505"), pgerror.ClassUniqueViolation, pgerror.ErrUniqueViolation, false},
		{"fk", pg("23503"), pgerror.ClassForeignKeyViolation, pgerror.ErrForeignKeyViolation, false},
		{"not null", pg("23502"), pgerror.ClassNotNullViolation, pgerror.ErrNotNullViolation, false},
		{"check", pg("23514"), pgerror.ClassCheckViolation, pgerror.ErrCheckViolation, false},
		{"exclusion", pg("23P01"), pgerror.ClassExclusionViolation, pgerror.ErrExclusionViolation, false},
		{"other integrity", pg("23001"), pgerror.ClassIntegrityViolation, nil, false},
		{"serialization", pg("40001"), pgerror.ClassSerializationFailure, pgerror.ErrSerializationFailure, true},
		{"deadlock", pg("40P01"), pgerror.ClassDeadlock, pgerror.ErrDeadlock, true},
		{"40003", pg("40003"), pgerror.ClassTransactionRollback, nil, false},
		{"canceled", pg("57014"), pgerror.ClassQueryCanceled, pgerror.ErrQueryCanceled, false},
		{"read only", pg("25006"), pgerror.ClassReadOnlyTransaction, pgerror.ErrReadOnlyTransaction, false},
		{"25P04 fallback", pg("25P04"), pgerror.ClassInvalidTransactionState, nil, false},
		{"25P02", pg("25P02"), pgerror.ClassInvalidTransactionState, nil, false},
		{"admin shutdown", pg("57P01"), pgerror.ClassConnectionLost, pgerror.ErrConnectionLost, true},
		{"idle session timeout", pg("57P05"), pgerror.ClassConnectionLost, pgerror.ErrConnectionLost, true},
		{"08006", pg("08006"), pgerror.ClassConnectionLost, pgerror.ErrConnectionLost, false},
		{"08001", pg("08001"), pgerror.ClassConnectionLost, pgerror.ErrConnectionLost, true},
		{"08007", pg("08007"), pgerror.ClassConnectionLost, pgerror.ErrConnectionLost, false},
		{"too many connections", pg("53300"), pgerror.ClassInsufficientResources, pgerror.ErrInsufficientResources, true},
		{"disk full", pg("53100"), pgerror.ClassInsufficientResources, pgerror.ErrInsufficientResources, false},
		{"undefined table", pg("42P01"), pgerror.ClassUndefinedTable, pgerror.ErrUndefinedTable, false},
		{"undefined column", pg("42703"), pgerror.ClassUndefinedColumn, pgerror.ErrUndefinedColumn, false},
		{"syntax", pg("42601"), pgerror.ClassSyntaxOrAccess, nil, false},
		{"unknown class", pg("ZZ999"), pgerror.ClassOther, nil, false},
		{"malformed", pg("1"), pgerror.ClassOther, nil, false},
		{"26000", pg("26000"), pgerror.ClassInvalidStatementName, nil, true},
		{"cached plan", &pgconn.PgError{Code: "0A000", Message: "cached plan must not change result type"}, pgerror.ClassFeatureNotSupported, nil, true},
		{"wrapped", fmt.Errorf("repo: %w", pg("23505")), pgerror.ClassUniqueViolation, pgerror.ErrUniqueViolation, false},
		{"outcome unknown", &pgprovider.OutcomeUnknownError{Op: middleware.OpExec, Err: io.ErrUnexpectedEOF}, pgerror.ClassConnectionLost, pgerror.ErrConnectionLost, false},
		{"bad conn", driver.ErrBadConn, pgerror.ClassConnectionLost, pgerror.ErrConnectionLost, true},
		{"net error", netErr, pgerror.ClassConnectionLost, pgerror.ErrConnectionLost, false},
		{"context", context.Canceled, pgerror.ClassContext, nil, false},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), pgerror.ClassContext, nil, false},
		{"no rows", sql.ErrNoRows, pgerror.ClassNone, nil, false},
		{"plain", errors.New("plain"), pgerror.ClassNone, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pgerror.Classify(tt.err); got != tt.class {
				t.Fatalf("Classify = %v, want %v", got, tt.class)
			}
			if got := pgerror.IsRetryable(tt.err); got != tt.retryable {
				t.Fatalf("IsRetryable = %v, want %v", got, tt.retryable)
			}
			if tt.sentinel != nil {
				if !pgerror.Is(tt.err, tt.sentinel) {
					t.Fatal("Is(err, sentinel) = false")
				}
				w := pgerror.Wrap(tt.err)
				if w == tt.err && tt.err == driver.ErrBadConn {
					return // keeps its identity; pgerror.Is classifies it
				}
				if !errors.Is(w, tt.sentinel) {
					t.Fatalf("errors.Is(Wrap(err), %v) = false", tt.sentinel)
				}
				if w.Error() != tt.err.Error() {
					t.Fatalf("message changed: %q", w.Error())
				}
				if pgerror.Wrap(w) != w || pgerror.Wrap(fmt.Errorf("again: %w", w)) == nil {
					t.Fatal("wrapping is not idempotent")
				}
				if errors.Is(tt.err, pgerror.ErrDeadlock) && tt.sentinel != pgerror.ErrDeadlock {
					t.Fatal("unwrapped error matched a sentinel")
				}
			}
			var want *pgconn.PgError
			if errors.As(tt.err, &want) {
				var got *pgconn.PgError
				if !errors.As(pgerror.Wrap(tt.err), &got) || got != want {
					t.Fatal("errors.As lost the *pgconn.PgError")
				}
			}
			if tt.class.String() == "unknown" {
				t.Fatal("class without a name")
			}
		})
	}
}

func TestWrapKeepsIdentity(t *testing.T) {
	for _, err := range []error{driver.ErrBadConn, context.Canceled, context.DeadlineExceeded, sql.ErrNoRows, sql.ErrTxDone, io.EOF, errors.New("plain")} {
		if got := pgerror.Wrap(err); got != err {
			t.Errorf("Wrap(%v) = %v (%T), want the same value", err, got, got)
		}
	}
	// A wrapped outcome-unknown error still is one.
	ou := &pgprovider.OutcomeUnknownError{Op: middleware.OpCommit, Err: io.ErrUnexpectedEOF}
	w := pgerror.Wrap(ou)
	var got *pgprovider.OutcomeUnknownError
	if !errors.Is(w, pgprovider.ErrOutcomeUnknown) || !errors.As(w, &got) || !errors.Is(w, io.ErrUnexpectedEOF) {
		t.Fatal("wrapping hid the outcome-unknown error")
	}
	if !errors.Is(w, pgerror.ErrConnectionLost) || errors.Is(w, pgerror.ErrDeadlock) {
		t.Fatal("wrong sentinel match")
	}
	if (&pgerror.Error{}).Class() != pgerror.ClassNone {
		t.Fatal("zero Error has a class")
	}
}

func TestFieldsAndFatal(t *testing.T) {
	e := fmt.Errorf("ctx: %w", &pgconn.PgError{Code: "23502", SeverityUnlocalized: "ERROR", ConstraintName: "c", TableName: "t", ColumnName: "col", SchemaName: "s"})
	if pgerror.Constraint(e) != "c" || pgerror.Table(e) != "t" || pgerror.Column(e) != "col" || pgerror.Schema(e) != "s" || pgerror.Code(e) != "23502" {
		t.Fatal("fields not exposed")
	}
	if pgerror.Constraint(io.EOF) != "" || pgerror.Table(nil) != "" || pgerror.Column(io.EOF) != "" || pgerror.Schema(io.EOF) != "" || pgerror.Code(io.EOF) != "" {
		t.Fatal("fields of a non-server error")
	}
	if pgerror.Fatal(e) || !pgerror.Fatal(&pgconn.PgError{Severity: "FATAL", Code: "57P01"}) || pgerror.Fatal(io.EOF) {
		t.Fatal("Fatal")
	}
	if pgerror.Is(io.EOF, io.EOF) != true || pgerror.Is(nil, pgerror.ErrDeadlock) {
		t.Fatal("Is on other targets")
	}
	if pgerror.ErrDeadlock.Error() != "pgerror: deadlock_detected" || pgerror.Class(200).String() != "unknown" {
		t.Fatal("names")
	}
}
