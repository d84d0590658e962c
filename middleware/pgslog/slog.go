// Package pgslog is pgprovider's log/slog middleware. It logs each operation once, when it
// ends (a query when its result set ends), at a level chosen per operation kind; statements
// slower than a threshold ([WithSlowThreshold]) are logged at warn, failures at error
// (cancellation at the operation's level).
//
// Field names follow the OpenTelemetry database semantic conventions (db.system.name,
// db.operation.name, db.query.summary, db.query.text, db.query.parameter_count or
// db.query.parameter.<index>, db.response.status_code, error.type, db.response.returned_rows,
// server.address, server.port, db.namespace), plus "duration", "error" for a failure that is
// not a server error (or with [WithErrorMessages]) and, when a span is active, trace_id and
// span_id.
//
// Nothing secret is logged by default: query arguments are masked (count only) unless a
// redaction function is given ([WithArgs]), query text without $n placeholders is logged with
// its literals replaced by "?", server error messages (which may quote values) are left out
// unless [WithErrorMessages], and the connection configuration contributes only host, port
// and database name, never the password.
package pgslog

import (
	"context"
	"database/sql/driver"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider/internal/recorder"
	"github.com/pgprovider/pgprovider/internal/sqlscan"
	"github.com/pgprovider/pgprovider/middleware"
	"go.opentelemetry.io/otel/trace"
)

type config struct {
	levels  map[middleware.Op]slog.Level
	slow    time.Duration
	args    func(ordinal int, v any) any
	errMsgs bool
}

// Option configures [New].
type Option func(*config)

// WithLevel sets the level of successful operations of kind op (default: debug for
// everything; connect at info).
func WithLevel(op middleware.Op, level slog.Level) Option {
	return func(c *config) { c.levels[op] = level }
}

// WithSlowThreshold logs statements (exec and query, result set included) that take at
// least d at warn, with the message "slow exec" or "slow query" (0, the default, disables it).
func WithSlowThreshold(d time.Duration) Option { return func(c *config) { c.slow = d } }

// WithArgs logs query arguments as db.query.parameter.<index> (0-based) through redact, which
// returns what to log for each; return a masked value for anything sensitive. pgx option
// arguments (pgx.QueryExecMode ...) are skipped. Without it, only the argument count is logged.
func WithArgs(redact func(ordinal int, v any) any) Option { return func(c *config) { c.args = redact } }

// WithErrorMessages adds server error messages (which can quote values from the statement)
// to failed operations' records.
func WithErrorMessages() Option { return func(c *config) { c.errMsgs = true } }

// Logger is the logging middleware. Build it with [New].
type Logger struct {
	log    *slog.Logger
	cfg    config
	levels [middleware.OpRaw + 1]slog.Level
	base   []slog.Attr
}

// New returns a logging middleware writing to l (slog.Default() when nil).
func New(l *slog.Logger, opts ...Option) *Logger {
	if l == nil {
		l = slog.Default()
	}
	cfg := config{levels: map[middleware.Op]slog.Level{}}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	lg := &Logger{log: l, cfg: cfg}
	for i := range lg.levels {
		lg.levels[i] = slog.LevelDebug
	}
	lg.levels[middleware.OpConnect] = slog.LevelInfo
	for op, lvl := range cfg.levels {
		if int(op) < len(lg.levels) {
			lg.levels[op] = lvl
		}
	}
	lg.base = []slog.Attr{slog.String("db.system.name", "postgresql")}
	return lg
}

// Wrappers logs connects, statements, result sets and transactions; its rank places the
// logger with the observability middleware, outermost. Every record names the server
// (server.address, server.port) and database (db.namespace) of the Connector c it is built
// into, never its password.
func (l *Logger) Wrappers(c middleware.Connector) middleware.Wrappers {
	if c != nil {
		if cc := c.ConnConfig(); cc != nil {
			cp := *l // this Connector's server
			cp.base = append(append([]slog.Attr(nil), l.base...), slog.String("server.address", cc.Host),
				slog.Int("server.port", int(cc.Port)), slog.String("db.namespace", cc.Database))
			l = &cp
		}
	}
	return middleware.Wrappers{
		Rank:     middleware.RankObserve,
		Connect:  l.wrapConnect,
		Commit:   l.wrapCommit,
		Rollback: l.wrapRollback,
		Begin:    l.wrapBegin,
		Prepare:  l.wrapPrepare,
		Exec:     l.wrapExec,
		Query:    l.wrapQuery,
		RowsEnd:  l.wrapRowsEnd,
	}
}

// level returns the level for an operation that ended with err after d.
func (l *Logger) level(op middleware.Op, c recorder.Outcome, d time.Duration) slog.Level {
	lvl := l.levels[op]
	if c.Error {
		return slog.LevelError
	}
	if l.slow(op, d) && lvl < slog.LevelWarn {
		return slog.LevelWarn
	}
	return lvl
}

// slow reports a statement that reached the slow-query threshold.
func (l *Logger) slow(op middleware.Op, d time.Duration) bool {
	switch op {
	case middleware.OpExec, middleware.OpQuery, middleware.OpStmtExec, middleware.OpStmtQuery:
		return l.cfg.slow > 0 && d >= l.cfg.slow
	}
	return false
}

func (l *Logger) emit(ctx context.Context, op middleware.Op, s *middleware.Statement, rows int64, err error, d time.Duration) {
	c := recorder.Describe(err)
	lvl := l.level(op, c, d)
	if !l.log.Enabled(ctx, lvl) {
		return
	}
	attrs := make([]slog.Attr, 0, 16)
	attrs = append(attrs, l.base...)
	msg := op.String()
	if s != nil {
		info := sqlscan.Shared.Get(s.SQL)
		if info.Operation != "" {
			attrs = append(attrs, slog.String("db.operation.name", info.Operation))
		}
		if info.Summary != "" {
			attrs = append(attrs, slog.String("db.query.summary", info.Summary))
		}
		attrs = append(attrs, slog.String("db.query.text", info.Text))
		attrs = l.appendArgs(attrs, s.Args)
	} else {
		switch op {
		case middleware.OpBegin, middleware.OpCommit, middleware.OpRollback:
			attrs = append(attrs, slog.String("db.operation.name", upper(op)))
		}
	}
	if rows >= 0 {
		attrs = append(attrs, slog.Int64("db.response.returned_rows", rows))
	}
	attrs = append(attrs, slog.Duration("duration", d))
	if err != nil {
		if c.SQLState != "" {
			attrs = append(attrs, slog.String("db.response.status_code", c.SQLState))
			if l.cfg.errMsgs {
				attrs = append(attrs, slog.String("error", err.Error()))
			}
		} else {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		attrs = append(attrs, slog.String("error.type", c.Type))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	if lvl == slog.LevelWarn && !c.Error && l.slow(op, d) {
		msg = "slow " + msg
	}
	l.log.LogAttrs(ctx, lvl, msg, attrs...)
}

func upper(op middleware.Op) string {
	switch op {
	case middleware.OpBegin:
		return "BEGIN"
	case middleware.OpCommit:
		return "COMMIT"
	}
	return "ROLLBACK"
}

func (l *Logger) appendArgs(attrs []slog.Attr, args []driver.NamedValue) []slog.Attr {
	n := 0
	for _, a := range args {
		switch a.Value.(type) {
		case pgx.QueryExecMode, pgx.QueryResultFormats, pgx.QueryResultFormatsByOID, pgx.QueryRewriter:
			continue
		}
		if l.cfg.args != nil {
			attrs = append(attrs, slog.Any("db.query.parameter."+strconv.Itoa(n), l.cfg.args(n, a.Value)))
		}
		n++
	}
	if l.cfg.args == nil && n > 0 {
		attrs = append(attrs, slog.Int("db.query.parameter_count", n))
	}
	return attrs
}
