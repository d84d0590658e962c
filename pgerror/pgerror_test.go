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
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
)

func pg(code string) *pgconn.PgError {
	return &pgconn.PgError{Severity: "ERROR", Code: code, Message: "msg " + code}
}

func TestClassify(t *testing.T) {
	netErr := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	_, refused := pgconn.Connect(context.Background(), "host=127.0.0.1 port=1 connect_timeout=5")
	if _, ok := errors.AsType[*pgconn.ConnectError](refused); !ok {
		t.Fatalf("connect to port 1: %v", refused)
	}
	tests := []struct {
		name       string
		err        error
		class      pgerror.Class
		retryable  bool
		connection bool
	}{
		{"nil", nil, pgerror.None, false, false},
		{"unique", pg("23505"), pgerror.UniqueViolation, false, false},
		{"fk", pg("23503"), pgerror.ForeignKeyViolation, false, false},
		{"not null", pg("23502"), pgerror.NotNullViolation, false, false},
		{"check", pg("23514"), pgerror.CheckViolation, false, false},
		{"exclusion", pg("23P01"), pgerror.ExclusionViolation, false, false},
		{"other integrity", pg("23001"), pgerror.IntegrityViolation, false, false},
		{"serialization", pg("40001"), pgerror.Serialization, true, false},
		{"deadlock", pg("40P01"), pgerror.Deadlock, true, false},
		{"40003", pg("40003"), pgerror.Server, false, false},
		{"query canceled", pg("57014"), pgerror.QueryCanceled, false, false},
		{"read only", pg("25006"), pgerror.ReadOnly, false, false},
		{"25P02", pg("25P02"), pgerror.Server, false, false},
		{"admin shutdown", pg("57P01"), pgerror.Terminated, true, true},
		{"crash shutdown", pg("57P02"), pgerror.Terminated, true, true},
		{"idle session timeout", pg("57P05"), pgerror.Terminated, true, true},
		{"cannot connect now", pg("57P03"), pgerror.Unavailable, true, true},
		{"too many connections", pg("53300"), pgerror.Unavailable, true, true},
		{"08006", pg("08006"), pgerror.ConnectionLost, false, true},
		{"08001", pg("08001"), pgerror.NotSent, true, true},
		{"08004", pg("08004"), pgerror.NotSent, true, true},
		{"08P01", pg("08P01"), pgerror.ConnectionLost, false, true},
		{"password", pg("28P01"), pgerror.Authentication, false, false},
		{"no pg_hba entry", pg("28000"), pgerror.Authentication, false, false},
		{"no database", pg("3D000"), pgerror.NoDatabase, false, false},
		{"disk full", pg("53100"), pgerror.Server, false, false},
		{"undefined table", pg("42P01"), pgerror.UndefinedTable, false, false},
		{"undefined column", pg("42703"), pgerror.UndefinedColumn, false, false},
		{"syntax", pg("42601"), pgerror.Server, false, false},
		{"unknown class", pg("ZZ999"), pgerror.Server, false, false},
		{"malformed", pg("1"), pgerror.Server, false, false},
		{"26000", pg("26000"), pgerror.StalePlan, false, false},
		{"cached plan", &pgconn.PgError{Code: "0A000", Message: "cached plan must not change result type"}, pgerror.StalePlan, false, false},
		{"other 0A000", &pgconn.PgError{Code: "0A000", Message: "cannot do that"}, pgerror.Server, false, false},
		{"wrapped", fmt.Errorf("repo: %w", pg("23505")), pgerror.UniqueViolation, false, false},
		{"outcome unknown", &pgerror.OutcomeUnknownError{Op: middleware.OpExec, Err: io.ErrUnexpectedEOF}, pgerror.OutcomeUnknown, false, true},
		{"wrapped outcome unknown", fmt.Errorf("x: %w", &pgerror.OutcomeUnknownError{Op: middleware.OpExec, Err: netErr}), pgerror.OutcomeUnknown, false, true},
		{"bad conn", driver.ErrBadConn, pgerror.NotSent, true, true},
		{"connect refused", refused, pgerror.NotSent, true, true},
		{"net error", netErr, pgerror.ConnectionLost, false, true},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), pgerror.ConnectionLost, false, true},
		{"conn done", sql.ErrConnDone, pgerror.ConnectionLost, false, true},
		{"closed", net.ErrClosed, pgerror.ConnectionLost, false, true},
		{"canceled", context.Canceled, pgerror.Canceled, false, false},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), pgerror.Timeout, false, false},
		{"no rows", sql.ErrNoRows, pgerror.None, false, false},
		{"skip", driver.ErrSkip, pgerror.None, false, false},
		{"eof", io.EOF, pgerror.None, false, false},
		{"plain", errors.New("plain"), pgerror.Other, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := pgerror.Classify(tt.err)
			if c != tt.class {
				t.Fatalf("Classify = %v, want %v", c, tt.class)
			}
			if c.Retryable() != tt.retryable {
				t.Fatalf("Retryable = %v, want %v", c.Retryable(), tt.retryable)
			}
			if c.Connection() != tt.connection {
				t.Fatalf("Connection = %v, want %v", c.Connection(), tt.connection)
			}
			if c.String() == "unknown" || c.Error() != c.String() || fmt.Sprint(c) != c.String() {
				t.Fatalf("class names: %q %q", c.String(), c.Error())
			}
			w := pgerror.Wrap(tt.err)
			if pgerror.Classify(w) != c {
				t.Fatalf("Classify(Wrap(err)) = %v", pgerror.Classify(w))
			}
			if tt.err == nil || c == pgerror.None || tt.err == driver.ErrBadConn || tt.err == sql.ErrConnDone || tt.err == context.Canceled || tt.err == context.DeadlineExceeded {
				if w != tt.err {
					t.Fatalf("Wrap changed a value that keeps its identity: %v", w)
				}
				return
			}
			if !errors.Is(w, c) {
				t.Fatalf("errors.Is(Wrap(err), %v) = false", c)
			}
			if c != pgerror.Deadlock && errors.Is(w, pgerror.Deadlock) {
				t.Fatal("matched another class")
			}
			if w.Error() != tt.err.Error() {
				t.Fatalf("message changed: %q", w.Error())
			}
			if pgerror.Wrap(w) != w || pgerror.Wrap(fmt.Errorf("again: %w", w)) == nil {
				t.Fatal("wrapping is not idempotent")
			}
			var want *pgconn.PgError
			if errors.As(tt.err, &want) {
				var got *pgconn.PgError
				if !errors.As(w, &got) || got != want {
					t.Fatal("errors.As lost the *pgconn.PgError")
				}
			}
		})
	}
}

func TestOutcomeUnknown(t *testing.T) {
	ou := &pgerror.OutcomeUnknownError{Op: middleware.OpCommit, Err: io.ErrUnexpectedEOF}
	w := pgerror.Wrap(ou)
	var got *pgerror.OutcomeUnknownError
	if !errors.Is(w, pgerror.OutcomeUnknown) || !errors.As(w, &got) || !errors.Is(w, io.ErrUnexpectedEOF) {
		t.Fatal("wrapping hid the outcome-unknown error")
	}
	if errors.Is(ou, driver.ErrBadConn) || errors.Is(ou, pgerror.ConnectionLost) {
		t.Fatal("an outcome-unknown error matches what database/sql or retry would run again")
	}
	if ou.Error() != "pgprovider: commit outcome unknown: connection lost after the request was sent: unexpected EOF" {
		t.Fatalf("message: %q", ou.Error())
	}
}

func TestFields(t *testing.T) {
	e := fmt.Errorf("ctx: %w", &pgconn.PgError{Code: "23502", ConstraintName: "c"})
	if pgerror.Constraint(e) != "c" || pgerror.Code(e) != "23502" {
		t.Fatal("fields not exposed")
	}
	if pgerror.Constraint(io.EOF) != "" || pgerror.Code(nil) != "" {
		t.Fatal("fields of a non-server error")
	}
	if pgerror.Class(200).String() != "unknown" {
		t.Fatal("names")
	}
}
