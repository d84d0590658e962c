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
	return t.c.ch.commit(t.ctx, middleware.Call{Op: middleware.OpCommit, Session: t.c})
}

func (t *tx) Rollback() error {
	return t.c.ch.rollback(t.ctx, middleware.Call{Op: middleware.OpRollback, Session: t.c})
}
