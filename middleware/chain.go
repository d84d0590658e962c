package middleware

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
)

// Executor is the innermost step of a chain: it runs each operation on a real backend
// connection. pgprovider's executor runs on pgx; tests may put another database/sql driver
// (go-sqlmock) behind it.
type Executor interface {
	Connect(ctx context.Context, c Call) error
	Ping(ctx context.Context, c Call) error
	ResetSession(ctx context.Context, c Call) error
	Begin(ctx context.Context, b Begin) error
	Commit(ctx context.Context, c Call) error
	Rollback(ctx context.Context, c Call) error
	Prepare(ctx context.Context, s Statement) (driver.Stmt, error)
	Exec(ctx context.Context, s Statement) (driver.Result, error)
	Query(ctx context.Context, s Statement) (driver.Rows, error)
	StmtClose(ctx context.Context, c Call) error
	RowsEnd(ctx context.Context, e RowsEnd) error
	Raw(ctx context.Context, c Call) error
	Release(ctx context.Context, c Call) error
}

// Chain is an ordered list of middleware composed once around an [Executor]. The first
// middleware listed is the outermost: it sees an operation first and its result last.
//
//	request ──► mw[0] ──► mw[1] ──► … ──► executor (pgx)
//	result  ◄── mw[0] ◄── mw[1] ◄── … ◄──
//
// A Chain is safe for concurrent use.
type Chain struct {
	connect, ping, reset, commit, rollback, stmtClose, raw, release CallFunc
	begin                                                           BeginFunc
	prepare                                                         PrepareFunc
	exec                                                            ExecFunc
	query                                                           QueryFunc
	rowsEnd                                                         RowsEndFunc

	wrapped [opCount]bool
	mws     []Middleware
}

// ErrOrder is returned by [NewChain] when ranked middleware is listed out of the recommended
// order (observability, then retry, then tenancy, then replica routing).
var ErrOrder = errors.New("pgprovider/middleware: middleware out of the recommended order")

// NewChain composes mws around exec. Nil entries are skipped. A value that implements no
// Wrap interface is an error, and so is ranked middleware out of the recommended order.
func NewChain(exec Executor, mws ...Middleware) (*Chain, error) {
	if exec == nil {
		return nil, errors.New("pgprovider/middleware: nil executor")
	}
	c := &Chain{
		connect: exec.Connect, ping: exec.Ping, reset: exec.ResetSession,
		commit: exec.Commit, rollback: exec.Rollback, stmtClose: exec.StmtClose, raw: exec.Raw,
		begin: exec.Begin, prepare: exec.Prepare, exec: exec.Exec, query: exec.Query,
		rowsEnd: exec.RowsEnd, release: exec.Release,
	}
	var lastRank Rank
	var lastName string
	for _, mw := range mws {
		if mw == nil {
			continue
		}
		if !implementsAny(mw) {
			return nil, fmt.Errorf("pgprovider/middleware: %T wraps no operation", mw)
		}
		if r := rankOf(mw); r != 0 {
			if r < lastRank {
				return nil, fmt.Errorf("%w: %T (rank %d) is listed after %s (rank %d)", ErrOrder, mw, r, lastName, lastRank)
			}
			lastRank, lastName = r, fmt.Sprintf("%T", mw)
		}
		c.mws = append(c.mws, mw)
	}
	// Wrap from the innermost (last listed) to the outermost (first listed).
	for i := len(c.mws) - 1; i >= 0; i-- {
		c.wrap(c.mws[i])
	}
	return c, nil
}

func rankOf(mw Middleware) Rank {
	switch m := mw.(type) {
	case Funcs:
		return m.Rank
	case *Funcs:
		return m.Rank
	case Ranker:
		return m.Rank()
	}
	return 0
}

func implementsAny(mw Middleware) bool {
	switch m := mw.(type) {
	case Funcs:
		return m.any()
	case *Funcs:
		return m.any()
	}
	switch mw.(type) {
	case ConnectWrapper, PingWrapper, ResetSessionWrapper, BeginWrapper, CommitWrapper,
		RollbackWrapper, PrepareWrapper, ExecWrapper, QueryWrapper, StmtCloseWrapper,
		RowsEndWrapper, RawWrapper, ReleaseWrapper:
		return true
	}
	return false
}

func (f *Funcs) any() bool {
	return f.Connect != nil || f.Ping != nil || f.ResetSession != nil || f.Begin != nil ||
		f.Commit != nil || f.Rollback != nil || f.Prepare != nil || f.Exec != nil ||
		f.Query != nil || f.StmtClose != nil || f.RowsEnd != nil || f.Raw != nil || f.Release != nil
}

func (c *Chain) wrap(mw Middleware) {
	var f Funcs
	switch m := mw.(type) {
	case Funcs:
		f = m
	case *Funcs:
		f = *m
	default:
		if w, ok := mw.(ConnectWrapper); ok {
			f.Connect = w.WrapConnect
		}
		if w, ok := mw.(PingWrapper); ok {
			f.Ping = w.WrapPing
		}
		if w, ok := mw.(ResetSessionWrapper); ok {
			f.ResetSession = w.WrapResetSession
		}
		if w, ok := mw.(BeginWrapper); ok {
			f.Begin = w.WrapBegin
		}
		if w, ok := mw.(CommitWrapper); ok {
			f.Commit = w.WrapCommit
		}
		if w, ok := mw.(RollbackWrapper); ok {
			f.Rollback = w.WrapRollback
		}
		if w, ok := mw.(PrepareWrapper); ok {
			f.Prepare = w.WrapPrepare
		}
		if w, ok := mw.(ExecWrapper); ok {
			f.Exec = w.WrapExec
		}
		if w, ok := mw.(QueryWrapper); ok {
			f.Query = w.WrapQuery
		}
		if w, ok := mw.(StmtCloseWrapper); ok {
			f.StmtClose = w.WrapStmtClose
		}
		if w, ok := mw.(RowsEndWrapper); ok {
			f.RowsEnd = w.WrapRowsEnd
		}
		if w, ok := mw.(RawWrapper); ok {
			f.Raw = w.WrapRaw
		}
		if w, ok := mw.(ReleaseWrapper); ok {
			f.Release = w.WrapRelease
		}
	}
	wrapCall(&c.connect, f.Connect, &c.wrapped[OpConnect])
	wrapCall(&c.ping, f.Ping, &c.wrapped[OpPing])
	wrapCall(&c.reset, f.ResetSession, &c.wrapped[OpResetSession])
	wrapCall(&c.commit, f.Commit, &c.wrapped[OpCommit])
	wrapCall(&c.rollback, f.Rollback, &c.wrapped[OpRollback])
	wrapCall(&c.stmtClose, f.StmtClose, &c.wrapped[OpStmtClose])
	wrapCall(&c.raw, f.Raw, &c.wrapped[OpRaw])
	wrapCall(&c.release, f.Release, &c.wrapped[OpRelease])
	if f.Begin != nil {
		c.begin, c.wrapped[OpBegin] = f.Begin(c.begin), true
	}
	if f.Prepare != nil {
		c.prepare, c.wrapped[OpPrepare] = f.Prepare(c.prepare), true
	}
	if f.Exec != nil {
		c.exec, c.wrapped[OpExec], c.wrapped[OpStmtExec] = f.Exec(c.exec), true, true
	}
	if f.Query != nil {
		c.query, c.wrapped[OpQuery], c.wrapped[OpStmtQuery] = f.Query(c.query), true, true
	}
	if f.RowsEnd != nil {
		c.rowsEnd, c.wrapped[OpRowsEnd] = f.RowsEnd(c.rowsEnd), true
	}
}

func wrapCall(dst *CallFunc, w func(CallFunc) CallFunc, flag *bool) {
	if w != nil {
		*dst = w(*dst)
		*flag = true
	}
}

// Wraps reports whether any middleware in the chain wraps op.
func (c *Chain) Wraps(op Op) bool { return int(op) < len(c.wrapped) && c.wrapped[op] }

// Empty reports whether no middleware wraps any operation.
func (c *Chain) Empty() bool { return len(c.mws) == 0 }

// Middleware returns the middleware of the chain, outermost first.
func (c *Chain) Middleware() []Middleware { return append([]Middleware(nil), c.mws...) }

// Connect runs OpConnect through the chain.
func (c *Chain) Connect(ctx context.Context, x Call) error { return c.connect(ctx, x) }

// Ping runs OpPing through the chain.
func (c *Chain) Ping(ctx context.Context, x Call) error { return c.ping(ctx, x) }

// ResetSession runs OpResetSession through the chain.
func (c *Chain) ResetSession(ctx context.Context, x Call) error { return c.reset(ctx, x) }

// Begin runs OpBegin through the chain.
func (c *Chain) Begin(ctx context.Context, b Begin) error { return c.begin(ctx, b) }

// Commit runs OpCommit through the chain.
func (c *Chain) Commit(ctx context.Context, x Call) error { return c.commit(ctx, x) }

// Rollback runs OpRollback through the chain.
func (c *Chain) Rollback(ctx context.Context, x Call) error { return c.rollback(ctx, x) }

// Prepare runs OpPrepare through the chain.
func (c *Chain) Prepare(ctx context.Context, s Statement) (driver.Stmt, error) {
	return c.prepare(ctx, s)
}

// Exec runs OpExec or OpStmtExec through the chain.
func (c *Chain) Exec(ctx context.Context, s Statement) (driver.Result, error) {
	return c.exec(ctx, s)
}

// Query runs OpQuery or OpStmtQuery through the chain.
func (c *Chain) Query(ctx context.Context, s Statement) (driver.Rows, error) {
	return c.query(ctx, s)
}

// StmtClose runs OpStmtClose through the chain.
func (c *Chain) StmtClose(ctx context.Context, x Call) error { return c.stmtClose(ctx, x) }

// RowsEnd runs OpRowsEnd through the chain.
func (c *Chain) RowsEnd(ctx context.Context, e RowsEnd) error { return c.rowsEnd(ctx, e) }

// Raw runs OpRaw through the chain.
func (c *Chain) Raw(ctx context.Context, x Call) error { return c.raw(ctx, x) }

// Release runs OpRelease through the chain.
func (c *Chain) Release(ctx context.Context, x Call) error { return c.release(ctx, x) }

// Close closes, in reverse order, every middleware of the chain that implements io.Closer,
// and returns the errors joined.
func (c *Chain) Close() error {
	var errs []error
	for i := len(c.mws) - 1; i >= 0; i-- {
		if cl, ok := c.mws[i].(io.Closer); ok {
			if err := cl.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
