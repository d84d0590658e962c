package pgprovider

import (
	"context"
	"database/sql/driver"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider/middleware"
)

// Config configures a [Connector]. Its zero value works: no middleware, no hooks, the DSN's
// settings as pgx parses them.
type Config struct {
	// Middleware is the chain, outermost first; see package middleware.
	Middleware []middleware.Middleware

	// BeforeConnect runs before every new backend connection, on a copy of the parsed
	// configuration: set a rotated password or a cloud IAM token here.
	BeforeConnect func(ctx context.Context, cfg *pgx.ConnConfig) error

	// AfterConnect runs after every new backend connection is established.
	AfterConnect func(ctx context.Context, conn *pgx.Conn) error

	// ConnConfig edits the parsed pgx configuration once, when the Connector is built: a pgx
	// tracer, the statement-cache mode, runtime parameters, TLS.
	ConnConfig []func(cfg *pgx.ConnConfig)

	// Backend, when set, replaces pgx behind the executor with another database/sql connector
	// (for example go-sqlmock in unit tests of middleware). pgx-only features (byte accounting,
	// PgxConn, liveness checks) are then unavailable.
	Backend driver.Connector
}

// Option changes a [Config]. Options are applied in order.
type Option func(*Config)

// WithMiddleware appends middleware to the chain; the first listed is the outermost.
func WithMiddleware(mws ...middleware.Middleware) Option {
	return func(c *Config) { c.Middleware = append(c.Middleware, mws...) }
}

// WithBeforeConnect sets a hook that runs before every new backend connection, on a copy of
// the configuration: fresh credentials per connection (rotated passwords, IAM tokens).
func WithBeforeConnect(f func(ctx context.Context, cfg *pgx.ConnConfig) error) Option {
	return func(c *Config) { c.BeforeConnect = f }
}

// WithAfterConnect sets a hook that runs after every new backend connection is established.
func WithAfterConnect(f func(ctx context.Context, conn *pgx.Conn) error) Option {
	return func(c *Config) { c.AfterConnect = f }
}

// WithConnConfig edits the parsed pgx configuration when the Connector is built, for anything
// pgx.ConnConfig offers: a pgx tracer, DefaultQueryExecMode, StatementCacheCapacity, TLS.
func WithConnConfig(f func(cfg *pgx.ConnConfig)) Option {
	return func(c *Config) { c.ConnConfig = append(c.ConnConfig, f) }
}

// WithBackend runs the chain over another database/sql connector instead of pgx. It exists for
// unit tests of middleware with go-sqlmock; production code does not need it.
func WithBackend(c driver.Connector) Option {
	return func(cfg *Config) { cfg.Backend = c }
}
