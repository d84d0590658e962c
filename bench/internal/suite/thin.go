package suite

import (
	"context"
	"database/sql"
	"database/sql/driver"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// openThin opens the thinnest driver that can sit over pgx stdlib: a driver.Conn that forwards
// every method straight to *stdlib.Conn and hands back pgx's own result sets, unwrapped. It does
// nothing, so its ratio to raw is what one more layer of Go calls costs on this machine: the
// floor under any driver built on pgx stdlib, pgprovider's empty chain included.
func openThin(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(thinConnector{stdlib.GetConnector(*cfg)}), nil
}

type thinConnector struct{ inner driver.Connector }

func (c thinConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &thinConn{dc.(*stdlib.Conn)}, nil
}

func (c thinConnector) Driver() driver.Driver { return c.inner.Driver() }

type thinConn struct{ sc *stdlib.Conn }

func (c *thinConn) Prepare(q string) (driver.Stmt, error) { return c.sc.Prepare(q) }
func (c *thinConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	return c.sc.PrepareContext(ctx, q)
}
func (c *thinConn) Close() error              { return c.sc.Close() }
func (c *thinConn) Begin() (driver.Tx, error) { return c.sc.Begin() }
func (c *thinConn) BeginTx(ctx context.Context, o driver.TxOptions) (driver.Tx, error) {
	return c.sc.BeginTx(ctx, o)
}
func (c *thinConn) ExecContext(ctx context.Context, q string, a []driver.NamedValue) (driver.Result, error) {
	return c.sc.ExecContext(ctx, q, a)
}
func (c *thinConn) QueryContext(ctx context.Context, q string, a []driver.NamedValue) (driver.Rows, error) {
	return c.sc.QueryContext(ctx, q, a)
}
func (c *thinConn) Ping(ctx context.Context) error             { return c.sc.Ping(ctx) }
func (c *thinConn) CheckNamedValue(v *driver.NamedValue) error { return c.sc.CheckNamedValue(v) }
func (c *thinConn) ResetSession(ctx context.Context) error     { return c.sc.ResetSession(ctx) }
