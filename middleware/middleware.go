package middleware

import (
	"context"
	"database/sql/driver"
	"time"

	"github.com/jackc/pgx/v5"
)

// Op identifies the kind of operation that flows through the chain.
type Op uint8

// The operation kinds. Each has a function type and a field in [Wrappers].
// The zero Op stands for no operation of the chain (retry reports a failed transaction
// function with it) and prints "unknown".
const (
	OpConnect      Op = iota + 1 // open a backend connection for a session ([CallFunc])
	OpPing                       // database/sql PingContext ([CallFunc])
	OpResetSession               // database/sql reuses a pooled connection ([CallFunc])
	OpBegin                      // begin a transaction ([BeginFunc])
	OpCommit                     // commit the open transaction ([CallFunc])
	OpRollback                   // roll back the open transaction ([CallFunc])
	OpPrepare                    // prepare a statement ([PrepareFunc])
	OpExec                       // run a statement without rows ([ExecFunc])
	OpQuery                      // run a statement that returns rows ([QueryFunc])
	OpStmtExec                   // run a prepared statement without rows ([ExecFunc])
	OpStmtQuery                  // run a prepared statement that returns rows ([QueryFunc])
	OpStmtClose                  // close a prepared statement ([CallFunc])
	OpRowsEnd                    // a result set ended: closed, exhausted or failed ([RowsEndFunc])
	OpRaw                        // hand the *pgx.Conn to user code ([CallFunc])
	OpRelease                    // database/sql returned the session to its pool ([CallFunc]; no I/O)
)

var opNames = [...]string{
	0:              "unknown",
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
// The driver implements it; middleware may read it but must not retain it after the call
// returns.
type Session interface {
	// ID is a process-unique number for this virtual connection, stable for its lifetime.
	ID() uint64
	// InTx reports whether a transaction is open on the session.
	InTx() bool
	// Pinned reports that user SQL changed session state the driver cannot carry to another
	// backend (a SET, a temporary table, LISTEN, a session-level advisory lock, raw access):
	// the session's statements must stay on its own backend.
	Pinned() bool
	// Backend describes the session's own backend connection (zero before it is connected).
	Backend() BackendInfo
	// TxValue returns the value for key of the context the open transaction's BEGIN reached
	// the executor with, and nil outside a transaction: what a middleware put in the context
	// at BEGIN (its transaction span, the tenant the transaction runs as) it finds again in
	// every statement of the transaction. COMMIT and ROLLBACK run with a context that carries
	// those values too.
	TxValue(key any) any
}

// Call is the payload of the operations that carry no statement: connect, ping, reset session,
// commit, rollback, statement close, raw access and release. Fields may be added in later
// versions.
type Call struct {
	Op      Op
	Session Session
	// SQL is the statement text for OpStmtClose; empty otherwise.
	SQL string
	// State is the session state the operation needs (OpRaw); the executor applies it first.
	State State
}

// Begin is the payload of OpBegin. Fields may be added in later versions.
type Begin struct {
	Session Session
	Opts    driver.TxOptions
	// State is the session state the transaction needs; the executor applies it before BEGIN.
	State State
	// Target, when a routing middleware sets it, runs the whole transaction on one backend
	// acquired from another server (a replica, for a read-only transaction): every statement
	// of the transaction runs there, and COMMIT or ROLLBACK releases it. Nil means the
	// session's own backend.
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
	// pgx.QueryExecModeSimpleProtocol (GORM passes it as the first argument): pass them on
	// untouched.
	Args []driver.NamedValue
	// InTx reports whether the statement runs inside a transaction.
	InTx bool
	// Prepared reports a statement executed through a database/sql *Stmt (OpStmtExec,
	// OpStmtQuery).
	Prepared bool
	// State is the session state the statement needs: it runs on a backend with that state
	// (the executor sets what the backend lacks first). Replace the slice, never append in
	// place.
	State State
	// Target, when a routing middleware sets it, runs the statement on a backend acquired from
	// another server (a replica) instead of the session's own. Nil means the session's backend.
	// Inside a transaction it is ignored: the transaction's backend runs every statement.
	Target Target
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

// QueryFunc runs a statement that returns rows. The returned driver.Rows belongs to the
// driver: return what next returned, never a wrapper. To observe the end of the result set,
// wrap [OpRowsEnd]; it receives the context that the innermost QueryFunc received.
type QueryFunc func(ctx context.Context, s Statement) (driver.Rows, error)

// RowsEndFunc is called once when a result set ends. Its error is what database/sql's
// Rows.Close returns.
type RowsEndFunc func(ctx context.Context, e RowsEnd) error

// Middleware is a value that wraps some of the driver's operations. Its one method returns
// the wrappers, and is called once for each Connector the middleware is built into, when that
// Connector is built; the operations whose field is nil go straight to the next middleware, or
// to the executor, at no cost. A misspelt wrapper (a field of [Wrappers]) or a wrong signature
// does not compile.
//
// A Middleware that also implements io.Closer is closed when its Connector is closed.
type Middleware interface {
	// Wrappers returns the wrappers to build into the Connector c: a middleware reads the
	// server, database and user from c.ConnConfig(), or opens connections of its own with
	// c.OpenBackend. c is nil when the wrappers are used outside a Connector (a unit test
	// calling them directly).
	Wrappers(c Connector) Wrappers
}

// Connector is what a middleware learns of the pgprovider Connector it is built into.
type Connector interface {
	// ConnConfig returns a copy of the Connector's parsed pgx configuration (server,
	// database, user, TLS, runtime parameters), or nil for a Connector over another driver.
	ConnConfig() *pgx.ConnConfig
	// OpenBackend opens a backend connection with the Connector's settings, outside any
	// session and without the chain: for a routing middleware's pool or a probe. The caller
	// closes it.
	OpenBackend(ctx context.Context) (Backend, error)
}

// Wrappers holds one optional wrapper per kind of operation; it is itself a [Middleware], the
// quickest way to write one:
//
//	middleware.Wrappers{Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
//		return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
//			log.Println(s.SQL)
//			return next(ctx, s)
//		}
//	}}
//
// A wrapper receives next and returns the function to run in its place. That function may
// call next zero, one or many times (short-circuit, retry), and may pass a different context.
// Exec wraps OpExec and OpStmtExec, Query wraps OpQuery and OpStmtQuery ([Statement.Prepared]
// tells them apart). Fields may be added in later versions.
type Wrappers struct {
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
	// Raw wraps OpRaw: access to the *pgx.Conn through pgprovider.Raw.
	Raw func(next CallFunc) CallFunc
	// Release wraps OpRelease: database/sql put the session back in its pool. It runs from
	// driver.Validator.IsValid with a background context and must not do I/O. Together with
	// OpConnect and OpResetSession, which mark a checkout, it measures how long connections
	// are held.
	Release func(next CallFunc) CallFunc
	// Rank places the middleware in the recommended order; zero means anywhere.
	Rank Rank
}

// Wrappers returns w, so that a Wrappers value is a [Middleware].
func (w Wrappers) Wrappers(Connector) Wrappers { return w }

// Rank is the place of a kind of middleware in the recommended order. A Connector refuses a
// chain where a ranked middleware is listed before one of a lower rank (for example replica
// routing outside retry). Unranked middleware (0) may go anywhere.
type Rank int

// The recommended order, outermost first.
const (
	RankObserve Rank = 10 // tracing, metrics, logging
	RankRetry   Rank = 20
	RankTenancy Rank = 30
	RankRouting Rank = 40
)
