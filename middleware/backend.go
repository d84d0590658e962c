package middleware

import (
	"context"
	"database/sql/driver"
)

// Backend is one connection to a PostgreSQL server, as the executor runs operations on it.
// The driver opens them (a routing middleware gets its own from pgprovider's
// Connector.OpenBackend) and hands the executor another one through a [Target]; middleware
// never runs statements on a Backend itself. A Backend is used by one goroutine at a time.
type Backend interface {
	// Exec, Query, Prepare and Begin run one operation, as the database/sql driver
	// interfaces of the same names do. Running the text of a statement the backend prepared
	// runs that prepared statement.
	Exec(ctx context.Context, sql string, args []driver.NamedValue) (driver.Result, error)
	Query(ctx context.Context, sql string, args []driver.NamedValue) (driver.Rows, error)
	Prepare(ctx context.Context, sql string) (driver.Stmt, error)
	Begin(ctx context.Context, opts driver.TxOptions) (driver.Tx, error)
	// Ping makes one round trip to the server.
	Ping(ctx context.Context) error
	// Apply makes the connection's session state match want, sending only the settings that
	// differ from what it knows the connection has; it sends nothing when they all match.
	// Settings applied inside a transaction last only if it commits.
	Apply(ctx context.Context, want State) error
	// Written is the number of bytes written to the server so far. The executor compares it
	// before and after an operation to know whether any of it reached the server.
	Written() uint64
	// Err is nil while the connection is usable, and the error that broke it (or closed)
	// otherwise.
	Err() error
	// Pinned reports that statements changed session state the backend cannot restore on
	// another connection (see [Session.Pinned]).
	Pinned() bool
	// Reset readies an idle connection for its next user, as database/sql's ResetSession:
	// it returns driver.ErrBadConn for a connection that is closed or broken or was left
	// inside a transaction. It need not reset session state: what [Backend.Apply] set stays,
	// and so may what user statements changed (see [Backend.Pinned]).
	Reset(ctx context.Context) error
	// Close closes the connection.
	Close() error
	// Info describes the connection.
	Info() BackendInfo
}

// BackendInfo describes a backend connection. Fields may be added in later versions.
type BackendInfo struct {
	// PID is the server's process ID for the connection, 0 when unknown.
	PID uint32
	// Addr is the server's address (host:port), "" when unknown.
	Addr string
}

// Target is where a routing middleware sends a statement or a transaction. The executor
// acquires one backend for a statement and releases it when the statement ends (after an
// exec, or when the result set of a query closes), or for a transaction until COMMIT or
// ROLLBACK. It applies the statement's declared state on that backend and accounts for its
// bytes, as on the session's own.
type Target interface {
	// Acquire returns a backend for one statement or one transaction.
	Acquire(ctx context.Context) (Backend, error)
	// Release returns the backend; err is how the work on it ended (nil on success), so that
	// the target can drop a backend that broke or mark its server down.
	Release(b Backend, err error)
}
