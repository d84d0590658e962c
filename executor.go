package pgprovider

import (
	"context"
	"database/sql/driver"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
)

// The executor is the innermost step of the chain: one function per operation, which runs it
// on a backend. Every operation takes this one path, with or without middleware. It owns the
// driver's rules:
//
//   - the backend: the transaction's inside a transaction; one a routing middleware's
//     target lends for the statement; otherwise the session's own, replaced first when it was
//     lost before the operation, outside a transaction, and not pinned to user state;
//   - declared session state is applied on that backend before the operation;
//   - driver.ErrBadConn only when nothing of the operation can have taken effect, an
//     *pgerror.OutcomeUnknownError when the request was sent and the answer lost (see fail).

func session(s middleware.Session) *conn { return s.(*conn) }

// errConnLost stands for the network error when a connection broke without one being seen.
var errConnLost = errors.New("connection closed")

func execConnect(ctx context.Context, call middleware.Call) error {
	c := session(call.Session)
	be, err := c.ctr.OpenBackend(ctx)
	if err != nil {
		return err
	}
	if c.be != nil {
		_ = c.be.Close()
	}
	c.be = be
	return nil
}

// backend returns the backend a statement with declared state want runs on, outside a lent
// target: the transaction's, or the session's own, replaced when it was lost (see above);
// want is applied on it.
func (c *conn) backend(ctx context.Context, want middleware.State) (middleware.Backend, error) {
	be := c.be
	if c.tx.inner != nil {
		be = c.tx.be
	} else if be.Err() != nil && !be.Pinned() {
		if err := c.ch.connect(ctx, middleware.Call{Op: middleware.OpConnect, Session: c}); err != nil {
			return nil, err
		}
		be = c.be
	}
	if len(want) > 0 {
		if err := apply(ctx, be, want); err != nil {
			return nil, err
		}
	}
	return be, nil
}

// apply applies declared state. set_config has no durable effect outside a transaction, so a
// failure is classified as an operation without effect: safe to run again elsewhere.
func apply(ctx context.Context, be middleware.Backend, want middleware.State) error {
	w0 := be.Written()
	if err := be.Apply(ctx, want); err != nil {
		return fail(ctx, be, middleware.OpResetSession, err, w0)
	}
	return nil
}

func execExec(ctx context.Context, s middleware.Statement) (driver.Result, error) {
	c := session(s.Session)
	if s.Target != nil && c.tx.inner == nil {
		return execLent(ctx, &s)
	}
	be, err := c.backend(ctx, s.State)
	if err != nil {
		return nil, err
	}
	w0 := be.Written()
	res, err := be.Exec(ctx, s.SQL, s.Args)
	if err != nil {
		if c.tx.inner == nil && pgerror.Classify(err) == pgerror.StalePlan {
			sql, args := redescribe(&s)
			res, err = be.Exec(ctx, sql, args)
		}
		if err != nil {
			return nil, fail(ctx, be, s.Op, err, w0)
		}
	}
	return res, nil
}

// redescribe returns the statement text and arguments to run a statement once more after the
// server found its plan stale (SQLSTATE 0A000 "cached plan must not change result type", or
// 26000: the prepared statement is gone), outside a transaction, where nothing of it ran. A
// statement prepared through database/sql keeps its stale server-side plan under its text,
// so the re-run uses the same SQL under another text, described afresh
// (pgx.QueryExecModeDescribeExec) and cached nowhere.
func redescribe(s *middleware.Statement) (string, []driver.NamedValue) {
	rest := s.Args
	if len(rest) > 0 {
		if _, ok := rest[0].Value.(pgx.QueryExecMode); ok { // the caller chose a mode (GORM does)
			rest = rest[1:]
		}
	}
	args := make([]driver.NamedValue, 0, len(rest)+1)
	args = append(args, driver.NamedValue{Value: pgx.QueryExecModeDescribeExec})
	return s.SQL + "\n", append(args, rest...)
}

// execLent runs a statement on a backend its target lends for it.
func execLent(ctx context.Context, s *middleware.Statement) (driver.Result, error) {
	be, err := s.Target.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	res, err := runLent(ctx, be, s)
	s.Target.Release(be, err)
	return res, err
}

func runLent(ctx context.Context, be middleware.Backend, s *middleware.Statement) (driver.Result, error) {
	if len(s.State) > 0 {
		if err := apply(ctx, be, s.State); err != nil {
			return nil, err
		}
	}
	w0 := be.Written()
	res, err := be.Exec(ctx, s.SQL, s.Args)
	if err != nil && pgerror.Classify(err) == pgerror.StalePlan {
		sql, args := redescribe(s)
		res, err = be.Exec(ctx, sql, args)
	}
	if err != nil {
		return nil, fail(ctx, be, s.Op, err, w0)
	}
	return res, nil
}

func execQuery(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
	c := session(s.Session)
	var be middleware.Backend
	var target middleware.Target
	var err error
	if s.Target != nil && c.tx.inner == nil {
		target = s.Target
		if be, err = target.Acquire(ctx); err != nil {
			return nil, err
		}
		if len(s.State) > 0 {
			if err = apply(ctx, be, s.State); err != nil {
				target.Release(be, err)
				return nil, err
			}
		}
	} else if be, err = c.backend(ctx, s.State); err != nil {
		return nil, err
	}
	var start time.Time
	if c.ch.rowsEnded {
		start = time.Now() // before the statement, so that the duration includes it
	}
	w0 := be.Written()
	r, err := be.Query(ctx, s.SQL, s.Args)
	if err != nil && c.tx.inner == nil && pgerror.Classify(err) == pgerror.StalePlan {
		sql, args := redescribe(&s)
		r, err = be.Query(ctx, sql, args)
	}
	if err != nil {
		err = fail(ctx, be, s.Op, err, w0)
		if target != nil {
			target.Release(be, err)
		}
		return nil, err
	}
	if w := &c.rows; !w.inUse && target == nil && !c.ch.rowsEnded {
		w.inner, w.c, w.be, w.inUse = r, c, be, true
		return w, nil
	}
	return newRows(ctx, c, be, r, &s, target, start), nil
}

func execPrepare(ctx context.Context, s middleware.Statement) (driver.Stmt, error) {
	c := session(s.Session)
	be, err := c.backend(ctx, s.State)
	if err != nil {
		return nil, err
	}
	w0 := be.Written()
	inner, err := be.Prepare(ctx, s.SQL)
	if err != nil {
		return nil, fail(ctx, be, middleware.OpPrepare, err, w0)
	}
	return &stmt{c: c, sql: s.SQL, inner: inner, be: be}, nil
}

func execStmtClose(ctx context.Context, call middleware.Call) error {
	c := session(call.Session)
	st := c.stmt
	if st == nil || st.be != c.be && st.be != c.tx.be || st.be.Err() != nil {
		return nil // the backend that prepared it is gone, or lent to someone else now
	}
	return st.inner.Close()
}

var (
	errTxOpen = errors.New("pgprovider: a transaction is already open on this connection")
	errNoTx   = errors.New("pgprovider: no open transaction")
)

func execBegin(ctx context.Context, b middleware.Begin) error {
	c := session(b.Session)
	if c.tx.inner != nil {
		return errTxOpen
	}
	var be middleware.Backend
	var err error
	if b.Target != nil {
		if be, err = b.Target.Acquire(ctx); err == nil && len(b.State) > 0 {
			if err = apply(ctx, be, b.State); err != nil {
				b.Target.Release(be, err)
			}
		}
	} else {
		be, err = c.backend(ctx, b.State)
	}
	if err != nil {
		return err
	}
	w0 := be.Written()
	t, err := be.Begin(ctx, b.Opts)
	if err != nil {
		err = fail(ctx, be, middleware.OpBegin, err, w0)
		if b.Target != nil {
			b.Target.Release(be, err)
		}
		return err
	}
	c.tx = txn{inner: t, be: be, target: b.Target}
	c.txw.ctx = txContext{Context: ctx, values: ctx} // conn.BeginTx sets database/sql's context
	return nil
}

func execCommit(ctx context.Context, call middleware.Call) error {
	t, err := session(call.Session).endTx()
	if err != nil {
		return err
	}
	w0 := t.be.Written()
	return t.ended(ctx, middleware.OpCommit, t.inner.Commit(), w0)
}

func execRollback(ctx context.Context, call middleware.Call) error {
	t, err := session(call.Session).endTx()
	if err != nil {
		return err
	}
	w0 := t.be.Written()
	return t.ended(ctx, middleware.OpRollback, t.inner.Rollback(), w0)
}

// endTx takes the session's open transaction off it: COMMIT or ROLLBACK ends it whatever
// their outcome.
func (c *conn) endTx() (txn, error) {
	t := c.tx
	if t.inner == nil {
		return t, errNoTx
	}
	c.tx = txn{}
	return t, nil
}

// ended classifies the error of COMMIT or ROLLBACK (w0: the bytes written before it) and
// returns a lent backend to its target.
func (t txn) ended(ctx context.Context, op middleware.Op, err error, w0 uint64) error {
	if err != nil {
		err = fail(ctx, t.be, op, err, w0)
	}
	if t.target != nil {
		t.target.Release(t.be, err)
	}
	return err
}

func execPing(ctx context.Context, call middleware.Call) error {
	return session(call.Session).be.Ping(ctx)
}

func execReset(ctx context.Context, call middleware.Call) error {
	return session(call.Session).be.Reset(ctx)
}

func execRowsEnd(_ context.Context, e middleware.RowsEnd) error { return e.Err }

func execRelease(context.Context, middleware.Call) error { return nil }

var errNoPgx = errors.New("pgprovider: not a pgprovider connection over pgx")

func execRaw(ctx context.Context, call middleware.Call) error {
	c := session(call.Session)
	be, err := c.backend(ctx, call.State)
	if err != nil {
		return err
	}
	pb, ok := be.(*pgxBackend)
	fn, _ := ctx.Value(rawFnKey{}).(func(context.Context, *pgx.Conn) error)
	if !ok || fn == nil {
		return errNoPgx
	}
	pb.handOut()
	defer pb.handOut() // user code may change anything
	return fn(ctx, pb.sc.Conn())
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

// fail turns the error of an operation on be into what database/sql must see (w0: the bytes
// written before the operation).
//
//   - A server error (the server answered) passes through unchanged.
//   - If the connection is still usable, the error passes through: the server answered, or the
//     error arose in the client.
//   - If the connection broke (or pgx stdlib mapped the error to driver.ErrBadConn) and no byte
//     of the operation was written, nothing reached the server: driver.ErrBadConn, so
//     database/sql runs it on another connection (or the context's error, when it is done).
//   - If bytes were written and the operation could have a durable effect, the outcome is
//     unknown: *pgerror.OutcomeUnknownError, which database/sql never runs again.
//
// The decision rests on the bytes the driver saw written, not on pgx's SafeToRetry, which is
// wrong for at least one path (a simple-protocol Exec whose reply was lost).
func fail(ctx context.Context, be middleware.Backend, op middleware.Op, err error, w0 uint64) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return err
	}
	badConn := errors.Is(err, driver.ErrBadConn)
	lost := be.Err()
	if !badConn && lost == nil {
		return err
	}
	sent := be.Written() != w0
	if !sent || noEffect(op) {
		if ce := ctx.Err(); ce != nil && !sent {
			return ce
		}
		if !badConn {
			_ = be.Close()
		}
		return driver.ErrBadConn
	}
	cause := err
	if badConn { // pgx stdlib hid the real error: use what the connection saw
		cause = lost
		if cause == nil {
			cause = errConnLost
		}
	}
	return &pgerror.OutcomeUnknownError{Op: op, Err: cause}
}
