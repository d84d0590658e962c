package pgprovider

import (
	"context"
	"database/sql/driver"
	"errors"

	"github.com/pgprovider/pgprovider/middleware"
)

// stmt is a prepared statement of a session. It runs by its SQL text, which is also the name
// pgx stdlib prepares it under, so it runs as a prepared statement on the backend that
// prepared it and is simply re-planned by pgx on a replacement backend.
type stmt struct {
	c     *conn
	sql   string
	inner driver.Stmt
	be    middleware.Backend // the backend that prepared inner
}

var (
	_ driver.Stmt             = (*stmt)(nil)
	_ driver.StmtExecContext  = (*stmt)(nil)
	_ driver.StmtQueryContext = (*stmt)(nil)
)

func (s *stmt) Close() error {
	s.c.stmt = s
	defer s.done()
	return s.c.ch.stmtClose(context.Background(), middleware.Call{Op: middleware.OpStmtClose, Session: s.c, SQL: s.sql})
}

func (s *stmt) NumInput() int { return s.inner.NumInput() }

var errDeprecated = errors.New("pgprovider: Stmt.Exec and Stmt.Query are deprecated; database/sql uses the Context variants")

func (s *stmt) Exec([]driver.Value) (driver.Result, error) { return nil, errDeprecated }

func (s *stmt) Query([]driver.Value) (driver.Rows, error) { return nil, errDeprecated }

func (s *stmt) done() { s.c.stmt = nil }

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.ch.exec(ctx, middleware.Statement{Op: middleware.OpStmtExec, Session: s.c, SQL: s.sql, Args: args, InTx: s.c.tx.inner != nil, Prepared: true})
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.c.ch.query(ctx, middleware.Statement{Op: middleware.OpStmtQuery, Session: s.c, SQL: s.sql, Args: args, InTx: s.c.tx.inner != nil, Prepared: true})
}
