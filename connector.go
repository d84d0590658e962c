package pgprovider

import (
	"context"
	"database/sql/driver"
	"errors"
	"net"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pgprovider/pgprovider/middleware"
)

// Connector is a driver.Connector that runs every connection of a *sql.DB through one
// middleware chain. Build it with [NewConnector] and hand it to sql.OpenDB, or use [Open].
// It implements io.Closer: database/sql's DB.Close closes it, and Close closes every
// middleware that implements io.Closer, in reverse order.
type Connector struct {
	ch      *chain
	drv     driver.Driver
	cfg     Config
	connCfg *pgx.ConnConfig  // nil with a custom backend
	inner   driver.Connector // pgx stdlib's connector, or the custom backend
	pgx     bool             // inner is pgx stdlib's

	closed   atomic.Bool
	once     sync.Once
	closeErr error
}

var sessionIDs atomic.Uint64

var _ middleware.Connector = (*Connector)(nil)

// NewConnector parses dsn (any DSN pgx.ParseConfig accepts: URL or key=value, multi-host,
// target_session_attrs, sslmode, runtime parameters) and builds a Connector with opts.
// A malformed DSN returns pgx's *pgconn.ParseConfigError, whose message redacts the password;
// a middleware list the driver cannot use returns an error matching [ErrMiddleware].
func NewConnector(dsn string, opts ...Option) (*Connector, error) {
	return newConnector(nil, dsn, opts)
}

func newConnector(d *Driver, dsn string, opts []Option) (*Connector, error) {
	var cfg Config
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	c := &Connector{cfg: cfg, drv: d}
	if d == nil {
		c.drv = &Driver{opts: opts}
	}
	if err := c.open(dsn); err != nil {
		return nil, err
	}
	ch, err := newChain(cfg.Middleware, c)
	if err != nil {
		return nil, err
	}
	c.ch = ch
	return c, nil
}

// open sets up the inner connector: pgx stdlib's over the parsed dsn, or the custom backend.
func (c *Connector) open(dsn string) error {
	cfg := c.cfg
	if cfg.Backend != nil {
		c.inner = cfg.Backend
		return nil
	}
	pc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return err
	}
	for _, f := range cfg.ConnConfig {
		f(pc)
	}
	userANC := pc.AfterNetConnect
	pc.AfterNetConnect = func(ctx context.Context, pcfg *pgconn.Config, conn net.Conn) (net.Conn, error) {
		if userANC != nil {
			var err error
			if conn, err = userANC(ctx, pcfg, conn); err != nil {
				return nil, err
			}
		}
		return newNetConn(conn), nil
	}
	// Pool hygiene: a LISTEN run on a pooled connection must neither grow pgx's unbounded
	// notification buffer nor hand the subscription to the next borrower (see Backend.Reset).
	userOnNotification := pc.OnNotification
	pc.OnNotification = func(pgc *pgconn.PgConn, n *pgconn.Notification) {
		if nc, ok := pgc.Conn().(*netConn); ok {
			nc.listened.Store(true)
		}
		if userOnNotification != nil {
			userOnNotification(pgc, n)
		}
	}
	c.connCfg, c.pgx = pc, true
	var sopts []stdlib.OptionOpenDB
	if cfg.BeforeConnect != nil {
		sopts = append(sopts, stdlib.OptionBeforeConnect(cfg.BeforeConnect))
	}
	if cfg.AfterConnect != nil {
		sopts = append(sopts, stdlib.OptionAfterConnect(cfg.AfterConnect))
	}
	// The liveness check at checkout runs inside pgx stdlib's own ResetSession, on the idle
	// time it measures anyway, in addition to its rule of a round trip after a second idle.
	sopts = append(sopts, stdlib.OptionShouldPing(shouldPing))
	c.inner = stdlib.GetConnector(*pc, sopts...)
	return nil
}

// ErrConnectorClosed is returned by Connect and OpenBackend after the Connector was closed.
var ErrConnectorClosed = errors.New("pgprovider: connector is closed")

// Connect opens a new session: a virtual connection holding one backend connection, opened
// through the chain's connect operation.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.closed.Load() {
		return nil, ErrConnectorClosed
	}
	cn := &conn{ch: c.ch, ctr: c, id: sessionIDs.Add(1)}
	cn.txw.c = cn
	if err := c.ch.connect(ctx, middleware.Call{Op: middleware.OpConnect, Session: cn}); err != nil {
		if cn.be != nil {
			_ = cn.be.Close()
		}
		return nil, err
	}
	if cn.be == nil {
		return nil, errors.New("pgprovider: a connect middleware did not call next")
	}
	return cn, nil
}

// OpenBackend opens one backend connection with the Connector's settings (DSN, hooks, TLS,
// pgx configuration), outside any session and without running the chain: a routing
// middleware keeps such backends in its own pool and hands them to the executor through a
// middleware.Target. The caller closes it.
func (c *Connector) OpenBackend(ctx context.Context) (middleware.Backend, error) {
	if c.closed.Load() {
		return nil, ErrConnectorClosed
	}
	dc, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if c.pgx {
		return newPgxBackend(dc.(*stdlib.Conn)), nil
	}
	return newDriverBackend(dc)
}

// Driver returns the driver this Connector belongs to.
func (c *Connector) Driver() driver.Driver { return c.drv }

// ConnConfig returns a copy of the parsed pgx configuration (nil with a custom backend). Side
// APIs such as the LISTEN/NOTIFY listener use it so that the same server, TLS and runtime
// parameters apply; [Config.BeforeConnect] is returned by BeforeConnect.
func (c *Connector) ConnConfig() *pgx.ConnConfig {
	if c.connCfg == nil {
		return nil
	}
	return c.connCfg.Copy()
}

// BeforeConnect returns the configured before-connect hook, or nil.
func (c *Connector) BeforeConnect() func(context.Context, *pgx.ConnConfig) error {
	return c.cfg.BeforeConnect
}

// Close marks the Connector closed (new connections fail with [ErrConnectorClosed]) and
// closes every middleware that implements io.Closer, in reverse order. It is idempotent.
func (c *Connector) Close() error {
	c.once.Do(func() {
		c.closed.Store(true)
		c.closeErr = c.ch.close()
		if cl, ok := c.inner.(interface{ Close() error }); ok {
			c.closeErr = errors.Join(c.closeErr, cl.Close())
		}
	})
	return c.closeErr
}
