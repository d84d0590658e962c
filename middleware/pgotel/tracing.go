package pgotel

import (
	"context"
	"database/sql/driver"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider/internal/recorder"
	"github.com/pgprovider/pgprovider/internal/sqlscan"
	"github.com/pgprovider/pgprovider/middleware"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys used by this package (stable database semantic conventions).
const (
	keySystem      = attribute.Key("db.system.name")
	keyNamespace   = attribute.Key("db.namespace")
	keyOperation   = attribute.Key("db.operation.name")
	keySummary     = attribute.Key("db.query.summary")
	keyText        = attribute.Key("db.query.text")
	keyStatus      = attribute.Key("db.response.status_code")
	keyErrorType   = attribute.Key("error.type")
	keyBatchSize   = attribute.Key("db.operation.batch.size")
	keyRows        = attribute.Key("db.response.returned_rows")
	keyServerAddr  = attribute.Key("server.address")
	keyServerPort  = attribute.Key("server.port")
	txSpanName     = "transaction"
	defaultPGPort  = 5432
	postgresqlName = "postgresql"
)

// Middleware is the OpenTelemetry tracing middleware. Build it with [New] and list it first
// in pgprovider.WithMiddleware. It is safe for concurrent use.
type Middleware struct {
	cfg    config
	tracer trace.Tracer
	rec    *recorder.Recorder
	base   []attribute.KeyValue // db.system.name, server.address, server.port
	dbName string
	kind   trace.SpanStartOption
	stmts  *stmtCache

	// Span start options built once: the transaction span in the database's namespace, and
	// the COMMIT and ROLLBACK spans.
	txOpts, commitOpts, rollbackOpts []trace.SpanStartOption
}

// New returns the tracing middleware.
func New(opts ...Option) *Middleware {
	cfg := newConfig(opts)
	tp := cfg.tp
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	m := &Middleware{
		cfg:    cfg,
		tracer: tp.Tracer(scopeName),
		rec:    recorder.Of(cfg.rec),
		kind:   trace.WithSpanKind(trace.SpanKindClient),
		stmts:  newStmtCache(stmtCacheSize),
	}
	m.setServer(cfg.connCfg)
	return m
}

// setServer sets the attributes every span carries: db.system.name, and the server and
// database of cc (when not nil).
func (m *Middleware) setServer(cc *pgx.ConnConfig) {
	m.base = append([]attribute.KeyValue(nil), keySystem.String(postgresqlName))
	m.dbName = ""
	if cc != nil {
		m.dbName = cc.Database
		if cc.Host != "" {
			m.base = append(m.base, keyServerAddr.String(cc.Host))
			if cc.Port != 0 && cc.Port != defaultPGPort {
				m.base = append(m.base, keyServerPort.Int(int(cc.Port)))
			}
		}
	}
	m.txOpts = m.txStartOpts(m.dbName)
	m.commitOpts = m.endTxOpts("COMMIT")
	m.rollbackOpts = m.endTxOpts("ROLLBACK")
}

// Wrappers traces statements, prepares and transactions, and records metrics into the
// recorder of [WithRecorder]; its rank places the middleware with the observability
// middleware, outermost. Its spans name the server and database of the Connector c it is
// built into, unless [WithConnConfig] named them.
func (m *Middleware) Wrappers(c middleware.Connector) middleware.Wrappers {
	if c != nil && m.cfg.connCfg == nil {
		if cc := c.ConnConfig(); cc != nil {
			cp := *m // this Connector's server: the caches and the recorder stay shared
			cp.setServer(cc)
			m = &cp
		}
	}
	w := middleware.Wrappers{
		Rank:     middleware.RankObserve,
		Exec:     m.wrapExec,
		Query:    m.wrapQuery,
		RowsEnd:  m.wrapRowsEnd,
		Prepare:  m.wrapPrepare,
		Begin:    m.wrapBegin,
		Commit:   m.wrapCommit,
		Rollback: m.wrapRollback,
	}
	if m.rec != nil { // connection creation and use times
		w.Connect, w.Release, w.ResetSession = m.wrapConnect, m.wrapRelease, m.wrapResetSession
	}
	return w
}

type spanKey struct{ m *Middleware }

// spanClock is implemented by the OpenTelemetry SDK's recording spans. An operation with
// such a span takes its duration from the span's timestamps instead of reading the clock
// again: each clock read costs tens of nanoseconds, and the metric and the span then agree.
type spanClock interface {
	StartTime() time.Time
	EndTime() time.Time
}

// elapsed returns the duration of an operation: from clock's start to its end (or to now
// while it is open) when clock is not nil, else since t (a [mono] reading).
func elapsed(clock spanClock, t time.Duration) time.Duration {
	if clock != nil {
		start, end := clock.StartTime(), clock.EndTime()
		if end.IsZero() {
			return time.Since(start)
		}
		return end.Sub(start)
	}
	return mono() - t
}

// epoch is the origin of [mono].
var epoch = time.Now()

// mono reads the monotonic clock only, which costs about half of time.Now.
func mono() time.Duration { return time.Since(epoch) }

type attrBuf struct {
	kv   []attribute.KeyValue
	opts []trace.SpanStartOption
}

var bufs = sync.Pool{New: func() any {
	return &attrBuf{kv: make([]attribute.KeyValue, 0, 16), opts: make([]trace.SpanStartOption, 0, 2)}
}}

// parent returns the context to start an operation span in, or ok=false when no span should
// be started (off: the context opted out with WithoutTracing).
func (m *Middleware) parent(ctx context.Context, off bool, sess middleware.Session, inTx bool) (context.Context, bool) {
	if off {
		return ctx, false
	}
	cur := trace.SpanContextFromContext(ctx)
	if inTx && sess != nil {
		if tx := m.txOf(sess.TxValue(txSpanKey{m})); tx != nil && (!cur.IsValid() || cur.Equal(tx.parent)) {
			return trace.ContextWithSpan(ctx, tx.span), true
		}
	}
	return ctx, cur.IsValid() || m.cfg.root
}

// namespace returns "{database}" or "{database}|{schema}" for the declared search_path.
func (m *Middleware) namespace(ctx context.Context, st middleware.State) string {
	var schema string
	if sp, ok := st.Get("search_path"); ok {
		schema = firstSchema(sp)
	} else if m.cfg.schema != nil {
		schema = m.cfg.schema(ctx)
	}
	if schema == "" {
		return m.dbName
	}
	return m.dbName + "|" + schema
}

// firstSchema returns the first entry of a search_path value, unquoted.
func firstSchema(sp string) string {
	sp = strings.TrimSpace(sp)
	if strings.HasPrefix(sp, `"`) {
		var b strings.Builder
		for i := 1; i < len(sp); i++ {
			if sp[i] == '"' {
				if i+1 < len(sp) && sp[i+1] == '"' {
					b.WriteByte('"')
					i++
					continue
				}
				break
			}
			b.WriteByte(sp[i])
		}
		return b.String()
	}
	if i := strings.IndexByte(sp, ','); i >= 0 {
		sp = sp[:i]
	}
	return strings.TrimSpace(sp)
}

// startStatement starts the span of a statement operation, when one is due. It returns st,
// looked up from the statement cache when it was nil and a span starts: an operation with no
// span and no recorder (no parent span, or no-op providers) never looks at its text.
func (m *Middleware) startStatement(ctx context.Context, s *middleware.Statement, st *stmtInfo, prepare bool) (context.Context, trace.Span, *stmtInfo) {
	o := optionsFrom(ctx)
	ctx, ok := m.parent(ctx, o.off, s.Session, s.InTx)
	if !ok {
		return ctx, nil, st
	}
	if st == nil {
		st = m.stmt(s.SQL)
	}
	ctx, span := m.startSpan(ctx, o, s, st, prepare)
	return ctx, span, st
}

// startSpan starts the span of a statement operation under ctx, which holds its parent.
func (m *Middleware) startSpan(ctx context.Context, o ctxOptions, s *middleware.Statement, st *stmtInfo, prepare bool) (context.Context, trace.Span) {
	ns := m.namespace(ctx, s.State)
	if o.summary == "" && !prepare && ns == m.dbName && m.cfg.params == nil {
		return m.tracer.Start(ctx, st.name, st.opts...) // the common case, built once per text
	}
	info := st.info
	summary := o.summary
	if summary == "" {
		summary = info.Summary
	}
	name := summary
	if name == "" {
		name = postgresqlName
	}
	op := info.Operation
	if prepare {
		op = "PREPARE"
		name = "PREPARE " + name
	}
	b := bufs.Get().(*attrBuf)
	kv := m.statementAttrs(b.kv[:0], info, ns, op, summary)
	if m.cfg.params != nil && !prepare {
		kv = m.appendParams(kv, s.Args)
	}
	b.kv = kv
	b.opts = append(b.opts[:0], m.kind, trace.WithAttributes(kv...))
	ctx, span := m.tracer.Start(ctx, name, b.opts...)
	clear(b.opts)
	clear(b.kv)
	bufs.Put(b)
	return ctx, span
}

// statementAttrs appends the attributes of a statement span (all but the parameters) to kv.
func (m *Middleware) statementAttrs(kv []attribute.KeyValue, info *sqlscan.Info, ns, op, summary string) []attribute.KeyValue {
	kv = append(kv, m.base...)
	if ns != "" {
		kv = append(kv, keyNamespace.String(ns))
	}
	if op != "" {
		kv = append(kv, keyOperation.String(op))
	}
	if summary != "" {
		kv = append(kv, keySummary.String(summary))
	}
	if !m.cfg.noText {
		kv = append(kv, keyText.String(info.Text))
	}
	if info.Statements > 1 {
		kv = append(kv, keyBatchSize.Int(info.Statements))
	}
	return kv
}

func (m *Middleware) appendParams(kv []attribute.KeyValue, args []driver.NamedValue) []attribute.KeyValue {
	i := 0
	for _, a := range args {
		if pgxOption(a.Value) {
			continue
		}
		if v, ok := m.cfg.params(i, a.Value); ok {
			kv = append(kv, attribute.String("db.query.parameter."+strconv.Itoa(i), v))
		}
		i++
	}
	return kv
}

func classify(err error) recorder.Outcome { return recorder.Describe(err) }

// end ends span with the outcome err.
func end(span trace.Span, err error) {
	if err != nil {
		c := classify(err)
		if c.SQLState != "" {
			span.SetAttributes(keyStatus.String(c.SQLState))
		}
		if c.Error {
			span.SetAttributes(keyErrorType.String(c.Type))
			span.SetStatus(codes.Error, c.Type)
		}
	}
	span.End()
}

func (m *Middleware) observe(k sqlscan.Kind, err error, clock spanClock, t time.Duration) {
	if m.rec != nil {
		m.rec.ObserveOp(k, err, elapsed(clock, t))
	}
}

// recStmt returns what the statement cache holds for text when the recorder needs it (every
// operation's kind is recorded), else nil: startStatement looks it up only if a span starts.
func (m *Middleware) recStmt(text string) *stmtInfo {
	if m.rec == nil {
		return nil
	}
	return m.stmt(text)
}

// wrapExec traces statements without rows (plain and prepared).
func (m *Middleware) wrapExec(next middleware.ExecFunc) middleware.ExecFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
		sctx, span, st := m.startStatement(ctx, &s, m.recStmt(s.SQL), false)
		clock, timed := span.(spanClock)
		var t time.Duration
		if !timed && m.rec != nil {
			t = mono()
		}
		res, err := next(sctx, s)
		if span != nil {
			end(span, err)
		}
		if m.rec != nil {
			m.observe(st.info.Kind, err, clock, t)
		}
		return res, err
	}
}

// queryCtx is the context a traced query passes down: it carries the query span to
// wrapRowsEnd, which ends it. One allocation carries the span and what the end
// of the result set needs.
type queryCtx struct {
	context.Context
	m    *Middleware
	span trace.Span
	kind sqlscan.Kind
}

func (q *queryCtx) Value(key any) any {
	if k, ok := key.(spanKey); ok && k.m == q.m {
		return q
	}
	return q.Context.Value(key)
}

// wrapQuery starts the span of a query; it ends when the result set ends (wrapRowsEnd), or at
// once when the query fails.
func (m *Middleware) wrapQuery(next middleware.QueryFunc) middleware.QueryFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
		sctx, span, st := m.startStatement(ctx, &s, m.recStmt(s.SQL), false)
		clock, timed := span.(spanClock)
		var t time.Duration
		if !timed && m.rec != nil {
			t = mono()
		}
		if timed || span != nil && span.IsRecording() { // a span started: st is set
			sctx = &queryCtx{Context: sctx, m: m, span: span, kind: st.info.Kind}
		}
		rows, err := next(sctx, s)
		if err != nil {
			if span != nil {
				end(span, err)
			}
			if m.rec != nil {
				m.observe(st.info.Kind, err, clock, t)
			}
		}
		return rows, err
	}
}

// wrapRowsEnd ends the query span and records the query's duration, rows included.
func (m *Middleware) wrapRowsEnd(next middleware.RowsEndFunc) middleware.RowsEndFunc {
	return func(ctx context.Context, e middleware.RowsEnd) error {
		err := next(ctx, e)
		q, ok := ctx.(*queryCtx)
		if !ok || q.m != m {
			q, _ = ctx.Value(spanKey{m}).(*queryCtx)
		}
		if q == nil {
			if m.rec != nil {
				m.rec.ObserveOp(m.stmt(e.Statement.SQL).info.Kind, err, e.Duration)
			}
			return err
		}
		if m.cfg.rows {
			q.span.SetAttributes(keyRows.Int64(e.Rows))
		}
		end(q.span, err)
		if m.rec != nil {
			m.rec.ObserveOp(q.kind, err, e.Duration)
		}
		return err
	}
}

// wrapPrepare traces statement preparation (span "PREPARE {summary}"; not a duration metric).
func (m *Middleware) wrapPrepare(next middleware.PrepareFunc) middleware.PrepareFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Stmt, error) {
		sctx, span, _ := m.startStatement(ctx, &s, nil, true)
		st, err := next(sctx, s)
		if span != nil {
			end(span, err)
		}
		return st, err
	}
}

// wrapConnect records the time taken to open a backend connection (no span).
func (m *Middleware) wrapConnect(next middleware.CallFunc) middleware.CallFunc {
	if m.rec == nil {
		return next
	}
	return m.rec.Wrappers(nil).Connect(next)
}

// wrapRelease records how long the connection was used (db.client.connection.use_time).
func (m *Middleware) wrapRelease(next middleware.CallFunc) middleware.CallFunc {
	if m.rec == nil {
		return next
	}
	return m.rec.Wrappers(nil).Release(next)
}
