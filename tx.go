package pgprovider

import (
	"context"
	"database/sql/driver"

	"github.com/pgprovider/pgprovider/middleware"
)

// tx is the driver.Tx of a session; it lives inside the conn so that BeginTx allocates nothing.
type tx struct {
	c   *conn
	ctx txContext
}

var _ driver.Tx = (*tx)(nil)

func (t *tx) Commit() error {
	return t.c.ch.commit(&t.ctx, middleware.Call{Op: middleware.OpCommit, Session: t.c})
}

func (t *tx) Rollback() error {
	return t.c.ch.rollback(&t.ctx, middleware.Call{Op: middleware.OpRollback, Session: t.c})
}

// txContext is the context COMMIT and ROLLBACK run through the chain with: the deadline and
// cancellation of the context database/sql began the transaction with (as pgx stdlib uses it
// for COMMIT and ROLLBACK), and the values of the context BEGIN reached the executor with, so
// that what a middleware put in the context at BEGIN (its transaction span, say) is there at
// the end.
type txContext struct {
	context.Context                 // database/sql's BeginTx context
	values          context.Context // the context the executor's BEGIN received
}

// Value returns the value BEGIN's context had for key.
func (c *txContext) Value(key any) any { return c.values.Value(key) }
