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
	drv     driver.Driver
	cfg     Config
	connCfg *pgx.ConnConfig // nil with a custom Backend
	backend driver.Connector
	chain   *middleware.Chain
	exec    *executor
	paths
	closed               atomic.Bool
	closeErr             error
	droppedNotifications atomic.Uint64
	once                 sync.Once
}

// paths says which operations the chain wraps. Each session keeps a copy next to its own hot
// fields.
type paths struct {
	rowsEnd bool // some middleware wraps OpRowsEnd: result sets must be wrapped
	release bool // some middleware wraps OpRelease
	// The hot operations no middleware wraps call the executor directly: the chain would
	// reach it through a method value, one more indirect call and copy of the payload.
	directExec, directQuery, directReset bool
	emptyChain                           bool // no middleware at all
}

var sessionIDs atomic.Uint64

// NewConnector parses dsn (any DSN pgx.ParseConfig accepts: URL or key=value, multi-host,
// target_session_attrs, sslmode, runtime parameters) and builds a Connector with opts.
// A malformed DSN returns pgx's *pgconn.ParseConfigError, whose message redacts the password.
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
	c := &Connector{cfg: cfg}
	if d != nil {
		c.drv = d
	} else {
		c.drv = &Driver{opts: opts}
	}
	if cfg.Backend != nil {
		c.backend = cfg.Backend
	} else {
		pc, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, err
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
		// notification buffer nor hand the subscription to the next borrower.
		userOnNotification := pc.OnNotification
		pc.OnNotification = func(pgc *pgconn.PgConn, n *pgconn.Notification) {
			c.droppedNotifications.Add(1)
			if nc, ok := pgc.Conn().(*netConn); ok {
				nc.listened.Store(true)
			}
			if userOnNotification != nil {
				userOnNotification(pgc, n)
			}
		}
		c.connCfg = pc
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
		c.backend = stdlib.GetConnector(*pc, sopts...)
	}
	c.exec = &executor{ctr: c}
	chain, err := middleware.NewChain(c.exec, cfg.Middleware...)
	if err != nil {
		return nil, err
	}
	c.chain = chain
	c.rowsEnd = chain.Wraps(middleware.OpRowsEnd)
	c.release = chain.Wraps(middleware.OpRelease)
	c.directExec = !chain.Wraps(middleware.OpExec)
	c.directQuery = !chain.Wraps(middleware.OpQuery)
	c.directReset = !chain.Wraps(middleware.OpResetSession)
	c.emptyChain = chain.Empty()
	return c, nil
}

// ErrConnectorClosed is returned by Connect after the Connector was closed.
var ErrConnectorClosed = errors.New("pgprovider: connector is closed")

// Connect opens a new session: a virtual connection holding one backend connection, opened
// through the chain's connect operation.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.closed.Load() {
		return nil, ErrConnectorClosed
	}
	cn := &conn{ctr: c, exec: c.exec, paths: c.paths, id: sessionIDs.Add(1)}
	cn.tx.c = cn
	if err := c.chain.Connect(ctx, middleware.Call{Op: middleware.OpConnect, Session: cn}); err != nil {
		if cn.be != nil {
			cn.be.close()
		}
		return nil, err
	}
	if cn.be == nil {
		return nil, errors.New("pgprovider: connect middleware did not call next")
	}
	return cn, nil
}

// Driver returns the driver this Connector belongs to.
func (c *Connector) Driver() driver.Driver { return c.drv }

// ConnConfig returns a copy of the parsed pgx configuration (nil with a custom backend). Side
// APIs such as the LISTEN/NOTIFY listener use it so that credentials hooks and TLS apply.
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

// DroppedNotifications returns how many notifications pooled connections received and
// dropped (a LISTEN run through database/sql; use package listen to receive notifications).
func (c *Connector) DroppedNotifications() uint64 { return c.droppedNotifications.Load() }

// Chain returns the built middleware chain.
func (c *Connector) Chain() *middleware.Chain { return c.chain }

// Close marks the Connector closed (new connections fail with [ErrConnectorClosed]) and
// closes every middleware that implements io.Closer, in reverse order. It is idempotent.
func (c *Connector) Close() error {
	c.once.Do(func() {
		c.closed.Store(true)
		c.closeErr = c.chain.Close()
		if cl, ok := c.backend.(interface{ Close() error }); ok {
			c.closeErr = errors.Join(c.closeErr, cl.Close())
		}
	})
	return c.closeErr
}
