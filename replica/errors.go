package replica

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
)

// ErrNoReplica is returned for a replica read when no replica is eligible (down, suspect,
// lagging beyond the bound, or behind the caller's writes) and the Router was built
// [WithoutFallback].
var ErrNoReplica = errors.New("replica: no eligible replica")

// ErrNoPrimary is returned when a statement bound for the primary, or a new connection,
// waited [WithPrimaryWait] and the monitor still knew no primary: during a failover, or in a
// split brain between two primaries on the same timeline. A new connection also fails with
// it, joined with the last connect error, when its attempts kept failing for the wait while
// the monitor knew a primary (one that refuses new connections but keeps the monitor's). The
// statement was not sent.
var ErrNoPrimary = errors.New("replica: no primary")

// connectionError reports an error that says the connection or the node is unusable, as
// opposed to an error of the statement itself.
func connectionError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case len(pgErr.Code) == 5 && pgErr.Code[:2] == "08":
			return true
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03", pgErr.Code == "53300":
			return true
		}
		return false
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, pgprovider.ErrOutcomeUnknown) ||
		errors.As(err, &ne) || errors.As(err, &ce) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || pgconn.SafeToRetry(err)
}

// readRetryable reports whether a failed replica read may run again elsewhere: the node or
// connection failed, or the standby cancelled the query on a recovery conflict.
func readRetryable(err error) bool {
	if connectionError(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	return false
}

// demotedError reports 25006: a write reached a node in recovery.
func demotedError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "25006"
}
