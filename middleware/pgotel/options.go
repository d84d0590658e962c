// Package pgotel is pgprovider's OpenTelemetry middleware: one CLIENT span per logical
// database operation, following the stable database semantic conventions, and a metric
// producer that exports pgprovider's in-driver recorder (package middleware/metrics) as the
// db.client.operation.duration and db.client.connection.* metrics. Spans and metrics carry the
// instrumentation scope "github.com/pgprovider/pgprovider/middleware/pgotel".
//
// Spans:
//   - a query span ends when its result set ends, so it covers reading the rows, and it covers
//     every retry attempt made by middleware listed after it (attempts are span events, see
//     [AddAttemptEvent]);
//   - the span name is the caller's summary ([WithSummary]) or the low-cardinality
//     "{operation} {target}" summary of the text, never the full text;
//   - statements inside a transaction are children of a "transaction" span that starts at
//     BEGIN and ends at COMMIT or ROLLBACK (each of which has its own child span);
//   - no root spans unless [WithRootSpans]; a per-call opt-out with [WithoutTracing];
//   - context.Canceled, sql.ErrNoRows and driver.ErrSkip are not span errors;
//   - the span is in the context passed down, so a pgx tracer configured on the connection
//     (pgprovider.WithConnConfig) creates its spans as children instead of siblings.
//
// Attributes: db.system.name=postgresql, db.namespace ("{database}" or "{database}|{schema}"
// when the operation declares a search_path, as tenancy middleware does; the first schema
// counts; see [WithSchema] for tenancy middleware listed after this one), db.operation.name
// (single-statement texts only), db.query.summary, db.query.text
// (as-is when it uses $n placeholders, otherwise with literals replaced by "?"),
// db.response.status_code and error.type (the SQLSTATE), server.address and server.port (from
// the parsed configuration given with [WithConnConfig]), db.operation.batch.size for texts of
// several statements. Arguments are recorded only with [WithQueryParameters].
package pgotel

import (
	"context"
	"database/sql/driver"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider/middleware/metrics"
	"go.opentelemetry.io/otel/trace"
)

// scopeName is the instrumentation scope of the spans and metrics this package produces (see
// the package documentation).
const scopeName = "github.com/pgprovider/pgprovider/middleware/pgotel"

type config struct {
	tp       trace.TracerProvider
	rec      *metrics.Recorder
	root     bool
	noText   bool
	params   func(ordinal int, v any) (string, bool)
	rows     bool
	connCfg  *pgx.ConnConfig
	poolName string
	pools    []Pool
	schema   func(ctx context.Context) string
}

// Option configures [New] and [NewProducer].
type Option func(*config)

// WithTracerProvider sets the tracer provider (default: the global one at the time New runs,
// which follows later otel.SetTracerProvider calls).
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tp = tp } }

// WithRecorder makes the middleware record operation durations and connection creation times
// into rec (read by [NewProducer] and the Prometheus collector). Do not also list rec in the
// chain.
func WithRecorder(rec *metrics.Recorder) Option { return func(c *config) { c.rec = rec } }

// WithRootSpans lets the middleware start spans without a parent span in the context.
// By default an operation without a parent produces no span (its metrics are still recorded).
func WithRootSpans(on bool) Option { return func(c *config) { c.root = on } }

// WithoutQueryText leaves db.query.text out of spans.
func WithoutQueryText() Option { return func(c *config) { c.noText = true } }

// WithQueryParameters records arguments as db.query.parameter.<index> (0-based) through fn,
// which returns the text to record and whether to record it at all. Arguments are never
// recorded without this option. pgx option arguments (such as pgx.QueryExecMode) are skipped.
func WithQueryParameters(fn func(ordinal int, v any) (string, bool)) Option {
	return func(c *config) { c.params = fn }
}

// WithReturnedRows records db.response.returned_rows on query spans (opt-in in the semantic
// conventions).
func WithReturnedRows() Option { return func(c *config) { c.rows = true } }

// WithConnConfig supplies the parsed configuration that server.address, server.port and the
// database part of db.namespace come from. The middleware needs it only to name another server
// than the one of the Connector it is built into, which it reads by itself; [NewProducer],
// which is not built into a Connector, takes (*pgprovider.Connector).ConnConfig().
func WithConnConfig(cfg *pgx.ConnConfig) Option { return func(c *config) { c.connCfg = cfg } }

// WithSchema supplies the schema part of db.namespace for operations that declare no
// search_path when they reach this middleware: tenancy middleware runs after (inside) the
// tracing middleware, so the schema it sets is not visible here; fn typically reads the
// tenant from ctx. An empty result means the database name alone.
func WithSchema(fn func(ctx context.Context) string) Option { return func(c *config) { c.schema = fn } }

// WithPoolName names the connection pool the recorder belongs to, for
// db.client.connection.pool.name on connection-creation metrics (default "primary").
func WithPoolName(name string) Option { return func(c *config) { c.poolName = name } }

// WithPools adds *sql.DB pools whose DBStats the producer exports as connection metrics.
func WithPools(pools ...Pool) Option { return func(c *config) { c.pools = append(c.pools, pools...) } }

func newConfig(opts []Option) config {
	c := config{poolName: "primary"}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

// pgxOption reports pgx's option arguments, which database/sql passes among the arguments.
func pgxOption(v driver.Value) bool {
	switch v.(type) {
	case pgx.QueryExecMode, pgx.QueryResultFormats, pgx.QueryResultFormatsByOID, pgx.QueryRewriter:
		return true
	}
	return false
}
