package pgprovider

import (
	"context"
	"database/sql/driver"

	"github.com/pgprovider/pgprovider/middleware"
)

// tx is the driver.Tx of a session; it lives inside the conn so that BeginTx allocates nothing.
type tx struct {
	c   *conn
	ctx context.Context // the BeginTx context, as pgx stdlib uses it for COMMIT and ROLLBACK
}

var _ driver.Tx = (*tx)(nil)

func (t *tx) Commit() error {
	c := t.c
	if be := c.be; c.emptyChain && be.tx != nil && !be.stateInTx {
		// The plain path (see conn.BeginTx): executor.Commit's work, in this frame.
		w0 := be.written()
		inner := be.tx
		be.tx, c.inTx = nil, false
		if err := inner.Commit(); err != nil {
			return c.exec.classify(t.ctx, be, middleware.OpCommit, err, w0)
		}
		return nil
	}
	return c.ctr.chain.Commit(t.ctx, middleware.Call{Op: middleware.OpCommit, Session: c})
}

func (t *tx) Rollback() error {
	return t.c.ctr.chain.Rollback(t.ctx, middleware.Call{Op: middleware.OpRollback, Session: t.c})
}
