package pgprovider

import (
	"context"
	"database/sql/driver"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider/middleware"
)

// executor is the innermost step of the chain: it runs each operation on the session's
// backend. It owns three rules:
//
//   - driver.ErrBadConn only when nothing of the operation can have taken effect (see classify);
//   - declared session state is applied before the operation, when the backend's differs;
//   - outside a transaction, with middleware configured, a backend found closed before anything
//     was sent is replaced, so that retry reaches a fresh backend without database/sql's help.
type executor struct{ ctr *Connector }

var _ middleware.Executor = (*executor)(nil)

func session(s middleware.Session) *conn { return s.(*conn) }

func (e *executor) Connect(ctx context.Context, c middleware.Call) error {
	cn := session(c.Session)
	dc, err := e.ctr.backend.Connect(ctx)
	if err != nil {
		return err
	}
	be, err := newBackend(dc)
	if err != nil {
		return err
	}
	if cn.be != nil {
		_ = cn.be.close()
	}
	cn.be = be
	return nil
}

// ready returns the backend to run on, replaced if it was lost while idle (when allowed) and
// with the declared state applied. The common case, nothing to replace or apply, is a few
// instructions; the rest is out of line (see the note on Exec and Query).
func (e *executor) ready(ctx context.Context, cn *conn, want middleware.State) (*backend, error) {
	if be := cn.be; len(want) == 0 && (cn.emptyChain || cn.inTx || cn.pinned || !be.isClosed()) {
		return be, nil
	}
	return e.readySlow(ctx, cn, want)
}

//go:noinline
func (e *executor) readySlow(ctx context.Context, cn *conn, want middleware.State) (*backend, error) {
	be := cn.be
	if !cn.emptyChain && !cn.inTx && !cn.pinned && be.isClosed() {
		if err := e.ctr.chain.Connect(ctx, middleware.Call{Op: middleware.OpConnect, Session: cn}); err != nil {
			return nil, err
		}
		be = cn.be
	}
	if len(want) > 0 && be.needs(want) {
		w0 := be.written()
		if err := be.apply(ctx, want, cn.inTx); err != nil {
			// set_config has no durable effect outside a transaction: safe to retry elsewhere.
			return nil, e.classify(ctx, be, middleware.OpResetSession, err, w0)
		}
	}
	return be, nil
}

// after updates what the driver knows of the session once a statement ran. With no state
// declared, no middleware and a plain statement (one command starting with a letter other
// than L or D) there is nothing to update.
func (e *executor) after(ctx context.Context, cn *conn, be *backend, sql string, err error) {
	if len(be.applied) > 0 || !cn.emptyChain || be.nc != nil && !plainStatement(sql) {
		e.afterSlow(ctx, cn, be, sql, err)
	}
}

//go:noinline
func (e *executor) afterSlow(ctx context.Context, cn *conn, be *backend, sql string, err error) {
	if (len(be.applied) > 0 || !cn.emptyChain) && changesSession(sql) {
		be.forget()
		cn.pinned = true
	}
	if be.sc == nil || be.nc == nil {
		return
	}
	listen, dropped := statementVerbs(sql)
	if listen {
		be.nc.listened.Store(true) // notifications that arrive mark it too (OnNotification)
	}
	// A user DISCARD ALL or DEALLOCATE dropped the server's prepared statements behind pgx's
	// back; clear pgx's caches too, or the next cached statement fails once with 26000.
	if err == nil && dropped {
		_ = be.pgx().DeallocateAll(ctx)
	}
}

func (e *executor) Ping(ctx context.Context, c middleware.Call) error {
	be := session(c.Session).be
	if be.pinger == nil {
		return nil
	}
	return be.pinger.Ping(ctx)
}

func (e *executor) ResetSession(ctx context.Context, c middleware.Call) error {
	return e.resetSession(ctx, session(c.Session).be)
}

// resetSession readies a backend for its next borrower: pgx stdlib's ResetSession, with the
// liveness check (shouldPing), after UNLISTEN when the session may have subscribed.
func (e *executor) resetSession(ctx context.Context, be *backend) error {
	if be.closed {
		return driver.ErrBadConn
	}
	if nc := be.nc; nc != nil && nc.listened.Load() {
		if err := e.unlisten(ctx, be); err != nil {
			return err
		}
	}
	if be.sc != nil {
		return be.sc.ResetSession(ctx)
	}
	if be.resetter != nil {
		return be.resetter.ResetSession(ctx)
	}
	return nil
}

// unlisten ends every subscription of a session that may have run LISTEN, so that the next
// borrower neither receives nor (through database/sql) silently drops them.
//
//go:noinline
func (e *executor) unlisten(ctx context.Context, be *backend) error {
	if !be.nc.listened.Swap(false) {
		return nil
	}
	if err := be.pgx().PgConn().Exec(ctx, "UNLISTEN *").Close(); err != nil {
		_ = be.close()
		return driver.ErrBadConn
	}
	return nil
}

func (e *executor) Begin(ctx context.Context, b middleware.Begin) error {
	cn := session(b.Session)
	if cn.inTx {
		return errors.New("pgprovider: a transaction is already open on this connection")
	}
	if b.Target != nil {
		rc, err := borrow(ctx, b.Target)
		if err != nil {
			return err
		}
		target := b.Target
		b.Target, b.Session = nil, rc
		if err := rc.ctr.exec.Begin(ctx, b); err != nil {
			target.Release(rc, err)
			return err
		}
		cn.txConn, cn.txTarget, cn.inTx = rc, target, true
		return nil
	}
	be, err := e.ready(ctx, cn, b.State)
	if err != nil {
		return err
	}
	w0 := be.written()
	t, err := be.beginner.BeginTx(ctx, b.Opts)
	if err != nil {
		return e.classify(ctx, be, middleware.OpBegin, err, w0)
	}
	be.tx, cn.inTx = t, true
	return nil
}

func (e *executor) endTx(c middleware.Call) (*backend, driver.Tx, error) {
	cn := session(c.Session)
	be := cn.be
	t := be.tx
	if t == nil {
		return nil, nil, errors.New("pgprovider: no open transaction")
	}
	be.tx, cn.inTx = nil, false
	return be, t, nil
}

// endBorrowedTx ends a transaction that runs on a borrowed connection and returns the
// connection to its pool.
func (e *executor) endBorrowedTx(ctx context.Context, cn *conn, commit bool) error {
	rc, target := cn.txConn, cn.txTarget
	cn.txConn, cn.txTarget, cn.inTx = nil, nil, false
	call := middleware.Call{Op: middleware.OpRollback, Session: rc}
	var err error
	if commit {
		call.Op = middleware.OpCommit
		err = rc.ctr.exec.Commit(ctx, call)
	} else {
		err = rc.ctr.exec.Rollback(ctx, call)
	}
	target.Release(rc, err)
	return err
}

func (e *executor) Commit(ctx context.Context, c middleware.Call) error {
	if cn := session(c.Session); cn.txConn != nil {
		return e.endBorrowedTx(ctx, cn, true)
	}
	be, t, err := e.endTx(c)
	if err != nil {
		return err
	}
	w0 := be.written()
	if err := t.Commit(); err != nil {
		if be.stateInTx {
			be.forget() // a failed COMMIT rolls back, and the settings with it
		}
		return e.classify(ctx, be, middleware.OpCommit, err, w0)
	}
	be.stateInTx = false
	return nil
}

func (e *executor) Rollback(ctx context.Context, c middleware.Call) error {
	if cn := session(c.Session); cn.txConn != nil {
		return e.endBorrowedTx(ctx, cn, false)
	}
	be, t, err := e.endTx(c)
	if err != nil {
		return err
	}
	if be.stateInTx {
		be.forget() // settings applied inside the transaction are reverted
	}
	w0 := be.written()
	if err := t.Rollback(); err != nil {
		return e.classify(ctx, be, middleware.OpRollback, err, w0)
	}
	return nil
}

func (e *executor) Prepare(ctx context.Context, s middleware.Statement) (driver.Stmt, error) {
	cn := session(s.Session)
	if rc := cn.txConn; rc != nil {
		// Prepared on the borrowed connection, but owned by the session: after the transaction
		// the statement runs by its text on the session's own backend.
		s.Session = rc
		st, err := rc.ctr.exec.Prepare(ctx, s)
		if err != nil {
			return nil, err
		}
		st.(*stmt).c = cn
		return st, nil
	}
	be, err := e.ready(ctx, cn, s.State)
	if err != nil {
		return nil, err
	}
	w0 := be.written()
	inner, err := be.preparer.PrepareContext(ctx, s.SQL)
	if err != nil {
		return nil, e.classify(ctx, be, middleware.OpPrepare, err, w0)
	}
	return &stmt{c: cn, sql: s.SQL, inner: inner, be: be}, nil
}

// borrow takes a connection from a routing target's pool.
func borrow(ctx context.Context, t middleware.Target) (*conn, error) {
	dc, err := t.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	rc, ok := dc.(*conn)
	if !ok || rc.be == nil {
		t.Release(dc, errNotPgprovider)
		return nil, errNotPgprovider
	}
	return rc, nil
}

var errNotPgprovider = errors.New("pgprovider: a routing target returned a connection that is not a pgprovider connection")

// Exec and Query are the path of every statement a middleware sees (without middleware,
// conn.ExecContext and conn.QueryContext take a shorter one). What most statements need is written
// inline and kept short; routing, borrowed transactions, other backend drivers and errors go
// to functions of their own, so that the common path spans few instruction cache lines (the
// server's work between two statements on the same CPU evicts them, and refetching them
// costs more than the instructions themselves).
func (e *executor) Exec(ctx context.Context, s middleware.Statement) (driver.Result, error) {
	cn := session(s.Session)
	if s.Target != nil || cn.txConn != nil {
		return e.execElsewhere(ctx, cn, &s)
	}
	be, err := e.ready(ctx, cn, s.State)
	if err != nil {
		return nil, err
	}
	w0 := be.written()
	var res driver.Result
	if be.sc != nil {
		// pgx stdlib prepares a statement under its SQL text, so running the text runs the
		// prepared statement on the backend that has it, and plain SQL on any other.
		res, err = be.sc.ExecContext(ctx, s.SQL, s.Args)
	} else {
		res, err = e.execOther(ctx, cn, be, &s)
	}
	return e.execEnd(ctx, cn, be, s.Op, s.SQL, res, err, w0)
}

// execEnd finishes a statement once the server answered (w0: the bytes written before it):
// for Exec, and for conn.ExecContext's plain path.
//
//go:noinline
func (e *executor) execEnd(ctx context.Context, cn *conn, be *backend, op middleware.Op, sql string, res driver.Result, err error, w0 uint64) (driver.Result, error) {
	e.after(ctx, cn, be, sql, err)
	if err != nil {
		return nil, e.classify(ctx, be, op, err, w0)
	}
	return res, nil
}

// queryEnd finishes a query of conn.QueryContext's plain path that is not plain (see
// ExecContext): what Query does once the server answered. The plain path has no middleware,
// so no OpRowsEnd for wrap to prepare.
//
//go:noinline
func (e *executor) queryEnd(ctx context.Context, cn *conn, be *backend, sql string, r driver.Rows, err error, w0 uint64) (driver.Rows, error) {
	e.after(ctx, cn, be, sql, err)
	if err != nil {
		return nil, e.classify(ctx, be, middleware.OpQuery, err, w0)
	}
	return e.wrap(ctx, cn, r, nil, time.Time{}), nil
}

// execElsewhere runs a statement a routing middleware sent to another pool, or one of a
// transaction that runs on a borrowed connection.
//
//go:noinline
func (e *executor) execElsewhere(ctx context.Context, cn *conn, s *middleware.Statement) (driver.Result, error) {
	b := *s
	if s.Target != nil {
		rc, err := borrow(ctx, s.Target)
		if err != nil {
			return nil, err
		}
		b.Target, b.Session = nil, rc
		res, err := rc.exec.Exec(ctx, b)
		s.Target.Release(rc, err)
		return res, err
	}
	b.Session = cn.txConn
	return cn.txConn.exec.Exec(ctx, b)
}

// execOther runs a statement on a backend driver other than pgx stdlib (go-sqlmock in tests).
//
//go:noinline
func (e *executor) execOther(ctx context.Context, cn *conn, be *backend, s *middleware.Statement) (driver.Result, error) {
	if st := cn.stmt; s.Prepared && st != nil {
		return e.stmtExec(ctx, be, st, s.Args)
	}
	return be.execer.ExecContext(ctx, s.SQL, s.Args)
}

func (e *executor) Query(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
	cn := session(s.Session)
	if s.Target != nil || cn.txConn != nil {
		return e.queryElsewhere(ctx, cn, &s)
	}
	be, err := e.ready(ctx, cn, s.State)
	if err != nil {
		return nil, err
	}
	var start time.Time
	if cn.rowsEnd {
		start = time.Now() // before the statement, so the duration includes it
	}
	w0 := be.written()
	var r driver.Rows
	if be.sc != nil {
		r, err = be.sc.QueryContext(ctx, s.SQL, s.Args)
	} else {
		r, err = e.queryOther(ctx, cn, be, &s)
	}
	e.after(ctx, cn, be, s.SQL, err)
	if err != nil {
		return nil, e.classify(ctx, be, s.Op, err, w0)
	}
	w := &cn.rows
	if w.inUse || cn.rowsEnd {
		return e.wrap(ctx, cn, r, &s, start), nil
	}
	w.inner, w.c, w.inUse = r, cn, true
	return w, nil
}

// wrap wraps a result set that needs more than the session's free wrapper: one that ends
// through OpRowsEnd (s and start are read only then), or one opened while another of the
// session's is still open.
//
//go:noinline
func (e *executor) wrap(ctx context.Context, cn *conn, r driver.Rows, s *middleware.Statement, start time.Time) *rows {
	w := &cn.rows
	if w.inUse {
		w = new(rows) // a result set of this session is still open: pgx refuses a second one
	}
	w.inner, w.c, w.inUse = r, cn, true
	if cn.rowsEnd {
		w.ctx, w.s, w.start, w.cold = ctx, *s, start, true
	}
	return w
}

// queryElsewhere runs a query a routing middleware sent to another pool, or one of a
// transaction that runs on a borrowed connection.
//
//go:noinline
func (e *executor) queryElsewhere(ctx context.Context, cn *conn, s *middleware.Statement) (driver.Rows, error) {
	b := *s
	if target := s.Target; target != nil {
		rc, err := borrow(ctx, target)
		if err != nil {
			return nil, err
		}
		b.Target, b.Session = nil, rc
		start := time.Now()
		r, err := rc.exec.Query(ctx, b)
		if err != nil {
			target.Release(rc, err)
			return nil, err
		}
		return e.adopt(ctx, r, &b, target, start), nil // released when the result set closes
	}
	// A transaction running on a borrowed connection: its result sets stay with it.
	rc := cn.txConn
	b.Session = rc
	start := time.Now()
	r, err := rc.exec.Query(ctx, b)
	if err != nil {
		return nil, err
	}
	return e.adopt(ctx, r, &b, nil, start), nil
}

// queryOther runs a query on a backend driver other than pgx stdlib (go-sqlmock in tests).
//
//go:noinline
func (e *executor) queryOther(ctx context.Context, cn *conn, be *backend, s *middleware.Statement) (driver.Rows, error) {
	if st := cn.stmt; s.Prepared && st != nil {
		return e.stmtQuery(ctx, be, st, s.Args)
	}
	return be.queryer.QueryContext(ctx, s.SQL, s.Args)
}

// adopt makes a result set produced on a borrowed connection end through this session's
// chain: its start time, the pool to return the connection to (nil inside a transaction),
// and the chain that runs OpRowsEnd.
func (e *executor) adopt(ctx context.Context, r driver.Rows, s *middleware.Statement, target middleware.Target, start time.Time) driver.Rows {
	w := r.(*rows)
	w.ctx, w.s, w.target, w.start, w.cold = ctx, *s, target, start, true
	if e.ctr.rowsEnd {
		w.chain = e.ctr.chain
	}
	return w
}

var errStmtBackend = errors.New("pgprovider: prepared statement belongs to a closed backend")

// stmtExec and stmtQuery run a prepared statement of a non-pgx backend (go-sqlmock).
func (e *executor) stmtExec(ctx context.Context, be *backend, st *stmt, args []driver.NamedValue) (driver.Result, error) {
	x, ok := st.inner.(driver.StmtExecContext)
	if !ok || st.be != be {
		return nil, errStmtBackend
	}
	return x.ExecContext(ctx, args)
}

func (e *executor) stmtQuery(ctx context.Context, be *backend, st *stmt, args []driver.NamedValue) (driver.Rows, error) {
	x, ok := st.inner.(driver.StmtQueryContext)
	if !ok || st.be != be {
		return nil, errStmtBackend
	}
	return x.QueryContext(ctx, args)
}

func (e *executor) StmtClose(ctx context.Context, c middleware.Call) error {
	cn := session(c.Session)
	st := cn.stmt
	if st == nil || st.be != cn.be || st.be.isClosed() {
		return nil // the backend that prepared it is gone, and the statement with it
	}
	return st.inner.Close()
}

func (e *executor) RowsEnd(ctx context.Context, ev middleware.RowsEnd) error { return ev.Err }

func (e *executor) Release(context.Context, middleware.Call) error { return nil }

func (e *executor) Raw(ctx context.Context, c middleware.Call) error {
	cn := session(c.Session)
	be, err := e.ready(ctx, cn, c.State)
	if err != nil {
		return err
	}
	if be.sc == nil || cn.rawFn == nil {
		return errNoPgx
	}
	cn.pinned = true
	defer be.forget() // user code may change anything
	return cn.rawFn(ctx, be.pgx())
}

// noEffect reports operations that cannot change durable state, so that database/sql may
// always run them again on another connection.
func noEffect(op middleware.Op) bool {
	switch op {
	case middleware.OpPing, middleware.OpResetSession, middleware.OpBegin, middleware.OpRollback, middleware.OpPrepare, middleware.OpConnect:
		return true
	}
	return false
}

// classify turns the error of an operation into what database/sql must see.
//
//   - A server error (the server answered) passes through unchanged.
//   - If the connection is still usable, the error passes through: the server answered, or the
//     error arose in the client.
//   - If the connection broke (or pgx stdlib mapped the error to driver.ErrBadConn) and no byte
//     of the operation was written, nothing reached the server: driver.ErrBadConn, so database/sql
//     retries on another connection (or the context's error, when it is done).
//   - If bytes were written and the operation could have a durable effect, the outcome is
//     unknown: *OutcomeUnknownError, which database/sql never retries.
//
// The decision rests on the bytes the driver saw written, not on pgx's SafeToRetry, which is
// wrong for at least one path (a simple-protocol Exec whose reply was lost).
func (e *executor) classify(ctx context.Context, be *backend, op middleware.Op, err error, w0 uint64) error {
	if be.nc == nil {
		return err // not pgx: the backend driver's own classification stands
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return err
	}
	badConn := errors.Is(err, driver.ErrBadConn)
	if !badConn && !be.isClosed() {
		return err
	}
	sent := be.written() != w0
	if !sent || noEffect(op) {
		if ce := ctx.Err(); ce != nil && !sent {
			return ce
		}
		if !badConn {
			_ = be.close()
		}
		return driver.ErrBadConn
	}
	cause := err
	if badConn { // pgx stdlib hid the real error: use what the connection saw
		if cause = be.nc.netErr(); cause == nil {
			cause = errConnLost
		}
	}
	return &OutcomeUnknownError{Op: op, Err: cause}
}

// classifyRows classifies an error that ended the iteration of a result set.
func (e *executor) classifyRows(cn *conn, err error) error {
	be := cn.be
	if be == nil || be.nc == nil || !be.isClosed() {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return err
	}
	return &OutcomeUnknownError{Op: middleware.OpQuery, Err: err}
}
