package pgprovider

import (
	"context"
	"database/sql/driver"
	"time"

	"github.com/pgprovider/pgprovider/middleware"
)

// conn is the driver.Conn database/sql pools: a virtual session that holds one replaceable
// backend connection and runs every operation through the Connector's chain.
//
// It implements exactly the optional interfaces *stdlib.Conn implements, plus driver.Validator.
type conn struct {
	ch   *chain
	be   middleware.Backend // the session's own backend; replaced only outside a transaction, when lost and not pinned
	tx   txn                // the open transaction
	rows rows               // the session's result-set wrapper, reused when free
	stmt *stmt              // the prepared statement of the operation under way
	ctr  *Connector
	id   uint64
	txw  tx // the session's driver.Tx, reused: one transaction at a time

}

// txn is the state of the session's open transaction, in one place: the backend it runs on
// (the session's own, or one a routing middleware's target lent for it) and pgx's transaction.
type txn struct {
	inner  driver.Tx // nil when no transaction is open
	be     middleware.Backend
	target middleware.Target // non-nil when be came from it
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
)

// ID implements middleware.Session.
func (c *conn) ID() uint64 { return c.id }

// InTx implements middleware.Session.
func (c *conn) InTx() bool { return c.tx.inner != nil }

// Pinned implements middleware.Session.
func (c *conn) Pinned() bool { return c.be != nil && c.be.Pinned() }

// TxValue implements middleware.Session.
func (c *conn) TxValue(key any) any {
	if c.tx.inner == nil {
		return nil
	}
	return c.txw.ctx.values.Value(key)
}

// Backend implements middleware.Session.
func (c *conn) Backend() middleware.BackendInfo {
	if c.be == nil {
		return middleware.BackendInfo{}
	}
	return c.be.Info()
}

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.ch.prepare(ctx, middleware.Statement{Op: middleware.OpPrepare, Session: c, SQL: query, InTx: c.tx.inner != nil})
}

// closeRollbackTimeout bounds the ROLLBACK of a session closed inside a transaction.
const closeRollbackTimeout = 5 * time.Second

// Close ends a transaction still open through the chain (a ROLLBACK, whose outcome does not
// matter: the backend goes), so that every transaction a middleware saw begin it also sees end,
// and closes the backend.
func (c *conn) Close() error {
	if c.tx.inner != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.txw.ctx.values), closeRollbackTimeout)
		c.txw.ctx.Context = ctx
		_ = c.txw.Rollback()
		cancel()
	}
	if c.be == nil {
		return nil
	}
	return c.be.Close()
}

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if err := c.ch.begin(ctx, middleware.Begin{Session: c, Opts: opts}); err != nil {
		return nil, err
	}
	c.txw.ctx.Context = ctx
	return &c.txw, nil
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.ch.exec(ctx, middleware.Statement{Op: middleware.OpExec, Session: c, SQL: query, Args: args, InTx: c.tx.inner != nil})
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.ch.query(ctx, middleware.Statement{Op: middleware.OpQuery, Session: c, SQL: query, Args: args, InTx: c.tx.inner != nil})
}

func (c *conn) Ping(ctx context.Context) error {
	return c.ch.ping(ctx, middleware.Call{Op: middleware.OpPing, Session: c})
}

// CheckNamedValue passes every argument through untouched, as pgx stdlib does: pgx encodes
// them, and GORM passes pgx values such as pgx.QueryExecModeSimpleProtocol as arguments.
func (c *conn) CheckNamedValue(*driver.NamedValue) error { return nil }

func (c *conn) ResetSession(ctx context.Context) error {
	return c.ch.reset(ctx, middleware.Call{Op: middleware.OpResetSession, Session: c})
}

// IsValid runs when database/sql returns the connection to the pool. A backend that is gone
// or still inside a transaction is not kept. Middleware that wraps OpRelease sees the return.
func (c *conn) IsValid() bool {
	if c.ch.released {
		_ = c.ch.release(context.Background(), middleware.Call{Op: middleware.OpRelease, Session: c})
	}
	return c.be != nil && c.be.Err() == nil && c.tx.inner == nil
}
