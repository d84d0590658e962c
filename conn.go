package pgprovider

import (
	"context"
	"database/sql/driver"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider/middleware"
)

// conn is the driver.Conn database/sql pools: a virtual session that holds one replaceable
// backend connection and runs every operation through the Connector's chain.
//
// It implements exactly the optional interfaces *stdlib.Conn implements, plus driver.Validator.
type conn struct {
	// The fields every statement reads come first (see backend), with a copy of the
	// Connector's hot flags, so that a statement does not touch the Connector's cache lines.
	ctr  *Connector
	exec *executor
	be   *backend
	inTx bool // a transaction is open
	// pinned is set once user code may have changed session state the driver cannot see
	// (a user SET, a temporary table, raw access); the backend is then never replaced silently.
	pinned bool
	paths        // the Connector's, copied
	stmt   *stmt // the prepared statement of the operation under way
	rows   rows  // the session's result-set wrapper, reused when free (its hot fields first)
	id     uint64
	// txConn is the connection borrowed from txTarget for the open transaction, when a routing
	// middleware sent the transaction to another pool; nil otherwise.
	txConn   *conn
	tx       tx // the session's transaction wrapper, reused: one transaction at a time
	rawFn    func(context.Context, *pgx.Conn) error
	txTarget middleware.Target
}

var (
	_ driver.Conn               = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
	_ middleware.Session        = (*conn)(nil)
	_ middleware.PinnedSession  = (*conn)(nil)
	_ middleware.AddrSession    = (*conn)(nil)
)

// Pinned implements middleware.PinnedSession.
func (c *conn) Pinned() bool { return c.pinned }

// BackendAddr implements middleware.AddrSession: the remote address of the backend, or "".
func (c *conn) BackendAddr() string {
	if c.be == nil || c.be.nc == nil {
		return ""
	}
	return c.be.nc.RemoteAddr().String()
}

// ID implements middleware.Session.
func (c *conn) ID() uint64 { return c.id }

// InTx implements middleware.Session.
func (c *conn) InTx() bool { return c.inTx }

// BackendPID implements middleware.Session.
func (c *conn) BackendPID() uint32 {
	if c.be == nil {
		return 0
	}
	return c.be.pid()
}

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s := middleware.Statement{Op: middleware.OpPrepare, Session: c, SQL: query, InTx: c.inTx}
	return c.ctr.chain.Prepare(ctx, s)
}

func (c *conn) Close() error {
	if c.txConn != nil { // a borrowed transaction never ended: its pool discards the connection
		c.txTarget.Release(c.txConn, errTxAbandoned)
		c.txConn, c.txTarget = nil, nil
	}
	if c.be == nil {
		return nil
	}
	return c.be.close()
}

var errTxAbandoned = errors.New("pgprovider: session closed inside a transaction")

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx of a session without middleware calls pgx stdlib in this frame, as ExecContext
// does (the plain path); tx.Commit does the same for COMMIT.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if be := c.be; c.emptyChain && be.sc != nil && !c.inTx {
		w0 := be.written()
		t, err := be.sc.BeginTx(ctx, opts)
		if err != nil {
			return nil, c.exec.classify(ctx, be, middleware.OpBegin, err, w0)
		}
		be.tx, c.inTx, c.tx.ctx = t, true, ctx
		return &c.tx, nil
	}
	if err := c.ctr.chain.Begin(ctx, middleware.Begin{Session: c, Opts: opts}); err != nil {
		return nil, err
	}
	c.tx.ctx = ctx
	return &c.tx, nil
}

// ExecContext and QueryContext of a session without middleware run the statement on pgx
// stdlib in this single frame: the plain path. The frames alive while a statement waits for
// the server are the ones whose code and stack lines the server's work evicts from the CPU's
// caches, and each costs a refetch when the answer arrives; pgx stdlib has one such frame, and
// so does this path. It keeps the executor's rules (without middleware no backend is replaced
// and no state declared for this session); a statement that may LISTEN or DISCARD, one on a
// backend with applied state (a connection a routing middleware borrowed), an error or a
// second open result set finish in execEnd and queryEnd, as in executor.Exec and executor.Query.
func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if be := c.be; c.emptyChain && be.sc != nil {
		// The plain path (see ExecContext).
		w0 := be.written()
		res, err := be.sc.ExecContext(ctx, query, args)
		if err == nil && len(be.applied) == 0 && plainStatement(query) {
			return res, nil
		}
		return c.exec.execEnd(ctx, c, be, middleware.OpExec, query, res, err, w0)
	}
	s := middleware.Statement{Op: middleware.OpExec, Session: c, SQL: query, Args: args, InTx: c.inTx}
	if c.directExec { // as execute, in this frame
		return c.exec.Exec(ctx, s)
	}
	return c.ctr.chain.Exec(ctx, s)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if be := c.be; c.emptyChain && be.sc != nil {
		// The plain path (see ExecContext).
		w0 := be.written()
		r, err := be.sc.QueryContext(ctx, query, args)
		if err == nil && !c.rows.inUse && len(be.applied) == 0 && plainStatement(query) {
			c.rows.inner, c.rows.c, c.rows.inUse = r, c, true
			return &c.rows, nil
		}
		return c.exec.queryEnd(ctx, c, be, query, r, err, w0)
	}
	s := middleware.Statement{Op: middleware.OpQuery, Session: c, SQL: query, Args: args, InTx: c.inTx}
	if c.directQuery { // as query, in this frame
		return c.exec.Query(ctx, s)
	}
	return c.ctr.chain.Query(ctx, s)
}

// execute runs an exec or prepared-statement exec through the chain, or straight to the
// executor when no middleware wraps it.
func (c *conn) execute(ctx context.Context, s middleware.Statement) (driver.Result, error) {
	if c.directExec {
		return c.exec.Exec(ctx, s)
	}
	return c.ctr.chain.Exec(ctx, s)
}

// query runs a query or prepared-statement query through the chain, or straight to the
// executor when no middleware wraps it.
func (c *conn) query(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
	if c.directQuery {
		return c.exec.Query(ctx, s)
	}
	return c.ctr.chain.Query(ctx, s)
}

func (c *conn) Ping(ctx context.Context) error {
	return c.ctr.chain.Ping(ctx, middleware.Call{Op: middleware.OpPing, Session: c})
}

// CheckNamedValue passes every argument through untouched, as pgx stdlib does: pgx encodes
// them, and GORM passes pgx values such as pgx.QueryExecModeSimpleProtocol as arguments.
func (c *conn) CheckNamedValue(*driver.NamedValue) error { return nil }

func (c *conn) ResetSession(ctx context.Context) error {
	if c.directReset {
		if be := c.be; !be.closed && be.sc != nil && (be.nc == nil || !be.nc.listened.Load()) {
			return be.sc.ResetSession(ctx) // with the liveness check (shouldPing)
		}
		return c.exec.resetSession(ctx, c.be)
	}
	return c.ctr.chain.ResetSession(ctx, middleware.Call{Op: middleware.OpResetSession, Session: c})
}

// IsValid runs when database/sql returns the connection to the pool. A backend that is gone
// or still inside a transaction is not kept. Middleware that wraps OpRelease sees the return.
func (c *conn) IsValid() bool {
	if c.release {
		_ = c.ctr.chain.Release(context.Background(), middleware.Call{Op: middleware.OpRelease, Session: c})
	}
	return c.be != nil && !c.be.isClosed() && !c.inTx
}

// PgxConn returns the *pgx.Conn behind a driver connection, for use inside (*sql.Conn).Raw:
//
//	err := sqlConn.Raw(func(driverConn any) error {
//		pc, ok := pgprovider.PgxConn(driverConn)
//		...
//	})
//
// It reports false for connections of other drivers or a connector with a custom backend.
// The driver then no longer knows the session state of that backend: it re-applies declared
// state on the next statement and never replaces the backend silently. Prefer [Raw], which
// also applies the state the context declares (the tenant) before handing the connection out.
func PgxConn(driverConn any) (*pgx.Conn, bool) {
	c, ok := driverConn.(*conn)
	if !ok || c.be == nil || c.be.sc == nil {
		return nil, false
	}
	c.pinned = true
	c.be.forget()
	return c.be.pgx(), true
}
