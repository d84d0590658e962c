package middleware

import (
	"context"
	"database/sql/driver"
	"time"
)

// Op identifies the kind of operation that flows through the chain.
type Op uint8

// The operation kinds. Each has its own function type and Wrap method; see [Middleware].
const (
	OpUnknown      Op = iota
	OpConnect         // open a backend connection for a session ([CallFunc])
	OpPing            // database/sql PingContext ([CallFunc])
	OpResetSession    // database/sql reuses a pooled connection ([CallFunc])
	OpBegin           // begin a transaction ([BeginFunc])
	OpCommit          // commit the open transaction ([CallFunc])
	OpRollback        // roll back the open transaction ([CallFunc])
	OpPrepare         // prepare a statement ([PrepareFunc])
	OpExec            // run a statement without rows ([ExecFunc])
	OpQuery           // run a statement that returns rows ([QueryFunc])
	OpStmtExec        // run a prepared statement without rows ([ExecFunc])
	OpStmtQuery       // run a prepared statement that returns rows ([QueryFunc])
	OpStmtClose       // close a prepared statement ([CallFunc])
	OpRowsEnd         // a result set ended: closed, exhausted or failed ([RowsEndFunc])
	OpRaw             // hand the *pgx.Conn to user code ([CallFunc])
	OpRelease         // database/sql returned the session to its pool ([CallFunc]; no I/O)
	opCount
)

var opNames = [...]string{
	OpUnknown:      "unknown",
	OpConnect:      "connect",
	OpPing:         "ping",
	OpResetSession: "reset_session",
	OpBegin:        "begin",
	OpCommit:       "commit",
	OpRollback:     "rollback",
	OpPrepare:      "prepare",
	OpExec:         "exec",
	OpQuery:        "query",
	OpStmtExec:     "stmt_exec",
	OpStmtQuery:    "stmt_query",
	OpStmtClose:    "stmt_close",
	OpRowsEnd:      "rows_end",
	OpRaw:          "raw",
	OpRelease:      "release",
}

// String returns the lower-case name of the operation, e.g. "exec" or "stmt_query".
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "unknown"
}

// Session is the virtual connection (one database/sql driver.Conn) an operation runs on.
// The driver implements it; middleware may read it but must not retain it after the call returns.
type Session interface {
	// ID is a process-unique number for this virtual connection, stable for its lifetime.
	ID() uint64
	// InTx reports whether a transaction is open on the session.
	InTx() bool
	// BackendPID is the PostgreSQL process ID of the backend that ran the last operation, or 0.
	BackendPID() uint32
}

// PinnedSession is implemented by sessions that can tell whether user SQL changed session
// state the driver cannot carry to another backend (a SET, a temporary table, LISTEN, a
// session-level advisory lock, raw access). A routing middleware keeps such a session's
// statements on its own backend.
type PinnedSession interface{ Pinned() bool }

// AddrSession is implemented by sessions that know the address (ip:port) of the server their
// backend is connected to, so that routing can evict sessions of a node it marked down.
type AddrSession interface{ BackendAddr() string }

// Call is the payload of the operations that carry no statement: connect, ping, reset session,
// commit, rollback, statement close and raw access. Fields may be added in later versions.
type Call struct {
	Op      Op
	Session Session
	// SQL is the statement text for OpStmtClose; empty otherwise.
	SQL string
	// State is the session state the operation needs (OpRaw); the executor applies it first.
	State State
}

// Begin is the payload of OpBegin.
type Begin struct {
	Session Session
	Opts    driver.TxOptions
	// State is the session state the transaction needs; the executor applies it before BEGIN.
	State State
	// Target, when a routing middleware sets it, runs the whole transaction on one connection
	// borrowed from another pool (a replica, for a read-only transaction): every statement of
	// the transaction runs there, and COMMIT or ROLLBACK returns it. Nil means the session.
	Target Target
}

// Statement is the payload of prepare, exec, query and prepared-statement operations.
// It is passed by value: a middleware that changes it passes its copy to next.
// Fields may be added in later versions.
type Statement struct {
	Op      Op
	Session Session
	SQL     string
	// Args are the arguments as database/sql passes them. They may hold pgx values such as
	// pgx.QueryExecModeSimpleProtocol (GORM passes it as the first argument): pass them on untouched.
	Args []driver.NamedValue
	// InTx reports whether the statement runs inside a transaction.
	InTx bool
	// Prepared reports a statement executed through a database/sql *Stmt (OpStmtExec, OpStmtQuery).
	Prepared bool
	// State is the session state the statement needs; the executor applies it before the
	// statement runs when the backend's state differs. Replace the slice, never append in place.
	State State
	// Target, when a routing middleware sets it, runs the statement on a connection borrowed
	// from another pool (a replica) instead of the session's own backend. Nil means the session.
	Target Target
}

// Target is a pool a routing middleware sends statements to. The executor borrows one
// connection per statement and returns it when the statement ends: after an exec, or when the
// result set of a query closes. The connection must come from a pgprovider Connector
// (Connector.Connect), so that the executor applies declared state and accounts for bytes on it.
type Target interface {
	// Acquire borrows a connection for one statement.
	Acquire(ctx context.Context) (driver.Conn, error)
	// Release returns a connection; err is how the statement ended (nil on success), so that
	// the pool can drop a connection that broke.
	Release(c driver.Conn, err error)
}

// RowsEnd is the payload of OpRowsEnd: a result set came to its end.
type RowsEnd struct {
	// Statement is the statement that produced the result set.
	Statement Statement
	// Rows is the number of rows database/sql read.
	Rows int64
	// Err is the error that ended the iteration, nil for a clean end.
	Err error
	// Duration is the time from the start of the query to the end of the result set.
	Duration time.Duration
}

// CallFunc runs an operation that carries no statement.
type CallFunc func(ctx context.Context, c Call) error

// BeginFunc begins a transaction.
type BeginFunc func(ctx context.Context, b Begin) error

// PrepareFunc prepares a statement. The returned driver.Stmt belongs to the driver: return
// what next returned, never a wrapper.
type PrepareFunc func(ctx context.Context, s Statement) (driver.Stmt, error)

// ExecFunc runs a statement that returns no rows.
type ExecFunc func(ctx context.Context, s Statement) (driver.Result, error)

// QueryFunc runs a statement that returns rows. The returned driver.Rows belongs to the driver:
// return what next returned, never a wrapper. To observe the end of the result set, wrap
// [OpRowsEnd]; it receives the context that the innermost QueryFunc received.
type QueryFunc func(ctx context.Context, s Statement) (driver.Rows, error)

// RowsEndFunc is called once when a result set ends. Its error is what database/sql's
// Rows.Close returns.
type RowsEndFunc func(ctx context.Context, e RowsEnd) error

// Middleware is any value that implements one or more of the Wrap interfaces below
// ([ExecWrapper], [QueryWrapper], ...). The chain asks each middleware, once when the
// Connector is built, which operations it wraps; an operation that no middleware wraps goes
// straight to the executor and costs nothing. [Funcs] builds a middleware from plain functions.
//
// A Wrap method receives next and returns the function to run in its place. That function may
// call next zero, one or many times, and may pass a different context.
type Middleware any

// ConnectWrapper wraps OpConnect.
type ConnectWrapper interface{ WrapConnect(next CallFunc) CallFunc }

// PingWrapper wraps OpPing.
type PingWrapper interface{ WrapPing(next CallFunc) CallFunc }

// ResetSessionWrapper wraps OpResetSession.
type ResetSessionWrapper interface{ WrapResetSession(next CallFunc) CallFunc }

// BeginWrapper wraps OpBegin.
type BeginWrapper interface {
	WrapBegin(next BeginFunc) BeginFunc
}

// CommitWrapper wraps OpCommit.
type CommitWrapper interface{ WrapCommit(next CallFunc) CallFunc }

// RollbackWrapper wraps OpRollback.
type RollbackWrapper interface{ WrapRollback(next CallFunc) CallFunc }

// PrepareWrapper wraps OpPrepare.
type PrepareWrapper interface {
	WrapPrepare(next PrepareFunc) PrepareFunc
}

// ExecWrapper wraps OpExec and OpStmtExec (see [Statement.Prepared]).
type ExecWrapper interface{ WrapExec(next ExecFunc) ExecFunc }

// QueryWrapper wraps OpQuery and OpStmtQuery (see [Statement.Prepared]).
type QueryWrapper interface {
	WrapQuery(next QueryFunc) QueryFunc
}

// StmtCloseWrapper wraps OpStmtClose.
type StmtCloseWrapper interface{ WrapStmtClose(next CallFunc) CallFunc }

// RowsEndWrapper wraps OpRowsEnd.
type RowsEndWrapper interface {
	WrapRowsEnd(next RowsEndFunc) RowsEndFunc
}

// RawWrapper wraps OpRaw: access to the *pgx.Conn through pgprovider.Raw.
type RawWrapper interface{ WrapRaw(next CallFunc) CallFunc }

// ReleaseWrapper wraps OpRelease: database/sql put the session back in its pool (it runs from
// driver.Validator.IsValid, with a background context; it must not do I/O). Together with
// OpConnect and OpResetSession, which mark a checkout, it measures how long connections are held.
type ReleaseWrapper interface{ WrapRelease(next CallFunc) CallFunc }

// Funcs is a middleware made of plain functions, one field per operation; a nil field passes
// the operation through untouched, at no cost. It is the quickest way to write a middleware
// that cares about a few operations:
//
//	middleware.Funcs{Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
//		return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
//			log.Println(s.SQL)
//			return next(ctx, s)
//		}
//	}}
type Funcs struct {
	Connect      func(next CallFunc) CallFunc
	Ping         func(next CallFunc) CallFunc
	ResetSession func(next CallFunc) CallFunc
	Begin        func(next BeginFunc) BeginFunc
	Commit       func(next CallFunc) CallFunc
	Rollback     func(next CallFunc) CallFunc
	Prepare      func(next PrepareFunc) PrepareFunc
	Exec         func(next ExecFunc) ExecFunc
	Query        func(next QueryFunc) QueryFunc
	StmtClose    func(next CallFunc) CallFunc
	RowsEnd      func(next RowsEndFunc) RowsEndFunc
	Raw          func(next CallFunc) CallFunc
	Release      func(next CallFunc) CallFunc
	// Rank places the middleware in the recommended order; see [Ranker]. Zero means unranked.
	Rank Rank
}

// Rank is the place of a built-in kind of middleware in the recommended order. The chain
// rejects a configuration where a ranked middleware is listed before one of a lower rank
// (for example replica routing outside retry). Unranked middleware (0) may go anywhere.
type Rank int

// The recommended order, outermost first.
const (
	RankObserve Rank = 10 // tracing, metrics, logging
	RankRetry   Rank = 20
	RankTenancy Rank = 30
	RankRouting Rank = 40
)

// Ranker is implemented by middleware that has a place in the recommended order.
type Ranker interface{ Rank() Rank }
