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
// with the declared state applied.
func (e *executor) ready(ctx context.Context, cn *conn, want middleware.State) (*backend, error) {
	be := cn.be
	if be.isClosed() && !cn.inTx && !cn.pinned && !e.ctr.emptyChain {
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

// after updates what the driver knows of the session once a statement ran.
func (e *executor) after(ctx context.Context, cn *conn, be *backend, sql string, err error) {
	if (len(be.applied) > 0 || !e.ctr.emptyChain) && changesSession(sql) {
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

// livenessMinIdle is how long a connection must have been out of use since its previous
// checkout before the checkout checks, with one non-blocking read, that the server did not
// close it. A connection recycled within a millisecond is no likelier to have died than during
// the statement itself, and the check would cost a system call on every query of a busy pool.
// Missing a dead connection is safe either way: the statement then fails with nothing re-run.
const livenessMinIdle = time.Millisecond

func (e *executor) ResetSession(ctx context.Context, c middleware.Call) error {
	be := session(c.Session).be
	if be.isClosed() {
		return driver.ErrBadConn
	}
	if be.nc != nil && be.idleSinceCheckout() >= livenessMinIdle {
		alive, pending := be.nc.liveness()
		if !alive {
			_ = be.close()
			return driver.ErrBadConn
		}
		if pending {
			// Let pgx read what the server sent: a terminated backend's FATAL error closes it.
			if err := be.pgx().PgConn().Ping(ctx); err != nil {
				_ = be.close()
				return driver.ErrBadConn
			}
		}
	}
	if be.nc != nil && be.nc.listened.Load() && be.nc.listened.Swap(false) {
		if err := be.pgx().PgConn().Exec(ctx, "UNLISTEN *").Close(); err != nil {
			_ = be.close()
			return driver.ErrBadConn
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

func (e *executor) Exec(ctx context.Context, s middleware.Statement) (driver.Result, error) {
	if s.Target != nil {
		rc, err := borrow(ctx, s.Target)
		if err != nil {
			return nil, err
		}
		target := s.Target
		s.Target, s.Session = nil, rc
		res, err := rc.ctr.exec.Exec(ctx, s)
		target.Release(rc, err)
		return res, err
	}
	cn := session(s.Session)
	if rc := cn.txConn; rc != nil { // a transaction running on a borrowed connection
		s.Session = rc
		return rc.ctr.exec.Exec(ctx, s)
	}
	be, err := e.ready(ctx, cn, s.State)
	if err != nil {
		return nil, err
	}
	w0 := be.written()
	var res driver.Result
	if st := cn.stmt; s.Prepared && be.sc == nil && st != nil {
		res, err = e.stmtExec(ctx, be, st, s.Args)
	} else if be.sc != nil {
		// pgx stdlib prepares a statement under its SQL text, so running the text runs the
		// prepared statement on the backend that has it, and plain SQL on any other.
		res, err = be.sc.ExecContext(ctx, s.SQL, s.Args)
	} else {
		res, err = be.execer.ExecContext(ctx, s.SQL, s.Args)
	}
	e.after(ctx, cn, be, s.SQL, err)
	if err != nil {
		return nil, e.classify(ctx, be, s.Op, err, w0)
	}
	return res, nil
}

func (e *executor) Query(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
	if s.Target != nil {
		target := s.Target
		rc, err := borrow(ctx, target)
		if err != nil {
			return nil, err
		}
		s.Target, s.Session = nil, rc
		start := time.Now()
		r, err := rc.ctr.exec.Query(ctx, s)
		if err != nil {
			target.Release(rc, err)
			return nil, err
		}
		return e.adopt(r, target, start), nil // released when the result set closes
	}
	if rc := session(s.Session).txConn; rc != nil {
		// A transaction running on a borrowed connection: its result sets stay with it.
		s.Session = rc
		start := time.Now()
		r, err := rc.ctr.exec.Query(ctx, s)
		if err != nil {
			return nil, err
		}
		return e.adopt(r, nil, start), nil
	}
	cn := session(s.Session)
	be, err := e.ready(ctx, cn, s.State)
	if err != nil {
		return nil, err
	}
	var start time.Time
	if e.ctr.rowsEnd {
		start = time.Now()
	}
	w0 := be.written()
	var r driver.Rows
	if st := cn.stmt; s.Prepared && be.sc == nil && st != nil {
		r, err = e.stmtQuery(ctx, be, st, s.Args)
	} else if be.sc != nil {
		r, err = be.sc.QueryContext(ctx, s.SQL, s.Args)
	} else {
		r, err = be.queryer.QueryContext(ctx, s.SQL, s.Args)
	}
	e.after(ctx, cn, be, s.SQL, err)
	if err != nil {
		return nil, e.classify(ctx, be, s.Op, err, w0)
	}
	w := &cn.rows
	if w.inUse {
		w = new(rows) // a result set of this session is still open: pgx refuses a second one
	}
	*w = rows{inner: r, c: cn, ctx: ctx, s: s, start: start, inUse: true}
	return w, nil
}

// adopt makes a result set produced on a borrowed connection end through this session's
// chain: its start time, the pool to return the connection to (nil inside a transaction),
// and the chain that runs OpRowsEnd.
func (e *executor) adopt(r driver.Rows, target middleware.Target, start time.Time) driver.Rows {
	w := r.(*rows)
	w.target, w.start = target, start
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
