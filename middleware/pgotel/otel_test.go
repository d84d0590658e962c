package pgotel_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/internal/recorder"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/middleware/metrics"
	pgotel "github.com/pgprovider/pgprovider/middleware/pgotel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, pgtest.Options{})) }

type env struct {
	db   *sql.DB
	sr   *tracetest.SpanRecorder
	tp   *sdktrace.TracerProvider
	rec  *metrics.Recorder
	cc   *pgx.ConnConfig
	node *pgtest.Node
}

func setup(t *testing.T, extra []middleware.Middleware, popts []pgprovider.Option, opts ...pgotel.Option) *env {
	return setupAround(t, nil, extra, popts, opts...)
}

func setupAround(t *testing.T, before, extra []middleware.Middleware, popts []pgprovider.Option, opts ...pgotel.Option) *env {
	t.Helper()
	node := pgtest.Shared(t).Primary()
	dsn := node.DSN()
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{sr: tracetest.NewSpanRecorder(), rec: metrics.New(), cc: cc, node: node}
	e.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(e.sr))
	opts = append([]pgotel.Option{pgotel.WithTracerProvider(e.tp), pgotel.WithRecorder(e.rec), pgotel.WithConnConfig(cc)}, opts...)
	mws := append(append(before, pgotel.New(opts...)), extra...)
	ctr, err := pgprovider.NewConnector(dsn, append([]pgprovider.Option{pgprovider.WithMiddleware(mws...)}, popts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e.db = sql.OpenDB(ctr)
	t.Cleanup(func() { e.db.Close() })
	return e
}

func (e *env) root(t *testing.T) (context.Context, trace.Span) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return e.tp.Tracer("test").Start(ctx, "root")
}

// spans returns the ended spans except the test's root.
func (e *env) spans() []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range e.sr.Ended() {
		if s.Name() != "root" {
			out = append(out, s)
		}
	}
	return out
}

func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

func only(t *testing.T, e *env, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range e.spans() {
		if s.Name() == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		var names []string
		for _, s := range e.spans() {
			names = append(names, s.Name())
		}
		t.Fatalf("want one span %q, have spans %q", name, names)
	}
	return found[0]
}

func checkAttrs(t *testing.T, s sdktrace.ReadOnlySpan, want map[string]string) {
	t.Helper()
	got := attrs(s)
	for k, v := range want {
		if v == "-" {
			if _, ok := got[k]; ok {
				t.Errorf("span %q: attribute %s = %q, want none", s.Name(), k, got[k])
			}
			continue
		}
		if got[k] != v {
			t.Errorf("span %q: attribute %s = %q, want %q (all: %v)", s.Name(), k, got[k], v, got)
		}
	}
	if s.SpanKind() != trace.SpanKindClient {
		t.Errorf("span %q: kind %v", s.Name(), s.SpanKind())
	}
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatal(err)
	}
}

func TestQuerySpanCoversRows(t *testing.T) {
	e := setup(t, nil, nil)
	ctx, root := e.root(t)
	rows, err := e.db.QueryContext(ctx, "SELECT generate_series(1, $1)", 3)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		if n++; n == 2 && len(e.spans()) != 0 {
			t.Fatal("query span ended before the result set")
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	root.End()
	s := only(t, e, "SELECT")
	checkAttrs(t, s, map[string]string{
		"db.system.name": "postgresql", "db.namespace": "postgres", "db.operation.name": "SELECT",
		"db.query.summary": "SELECT", "db.query.text": "SELECT generate_series(1, $1)",
		"server.address": e.cc.Host, "server.port": strconv.Itoa(int(e.cc.Port)),
		"error.type": "-", "db.query.parameter.0": "-", "db.operation.batch.size": "-",
	})
	if s.Parent().SpanID() != root.SpanContext().SpanID() {
		t.Error("query span is not a child of the caller's span")
	}
	if n != 3 || s.Status().Code != codes.Unset {
		t.Errorf("rows %d status %v", n, s.Status())
	}
}

func TestStatementSpans(t *testing.T) {
	e := setup(t, nil, nil, pgotel.WithQueryParameters(func(i int, v any) (string, bool) { return "redacted", true }), pgotel.WithReturnedRows())
	mustExec(t, e.db, "CREATE TABLE IF NOT EXISTS otel_items (id int PRIMARY KEY)")
	mustExec(t, e.db, "TRUNCATE otel_items")
	mustExec(t, e.db, "INSERT INTO otel_items VALUES (1)")
	cases := []struct {
		name string
		run  func(ctx context.Context) error
		span string
		want map[string]string
		err  bool
	}{
		{"failed insert", func(ctx context.Context) error {
			_, err := e.db.ExecContext(ctx, "INSERT INTO otel_items VALUES ($1)", 1)
			return err
		}, "INSERT otel_items", map[string]string{"db.operation.name": "INSERT", "db.response.status_code": "23505",
			"error.type": "23505", "db.query.text": "INSERT INTO otel_items VALUES ($1)", "db.query.parameter.0": "redacted"}, true},
		{"literal text sanitized", func(ctx context.Context) error {
			var s string
			return e.db.QueryRowContext(ctx, "SELECT 'secret' FROM otel_items WHERE id IN (1, 2)").Scan(&s)
		}, "SELECT otel_items", map[string]string{"db.query.text": "SELECT ? FROM otel_items WHERE id IN (?)", "db.response.returned_rows": "1"}, false},
		{"no rows is not an error", func(ctx context.Context) error {
			var id int
			err := e.db.QueryRowContext(ctx, "SELECT id FROM otel_items WHERE id = $1", 42).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		}, "SELECT otel_items", map[string]string{"error.type": "-", "db.response.returned_rows": "0"}, false},
		{"syntax error in query", func(ctx context.Context) error {
			_, err := e.db.QueryContext(ctx, "SELEC 1")
			return err
		}, "postgresql", map[string]string{"db.response.status_code": "42601", "error.type": "42601", "db.operation.name": "-"}, true},
		{"multi statement", func(ctx context.Context) error {
			_, err := e.db.ExecContext(ctx, "SELECT 1; SELECT 2")
			return err
		}, "SELECT SELECT", map[string]string{"db.operation.batch.size": "2", "db.operation.name": "-", "db.query.text": "SELECT ?; SELECT ?"}, false},
		{"caller summary", func(ctx context.Context) error {
			_, err := e.db.ExecContext(pgotel.WithSummary(ctx, "TouchItems"), "UPDATE otel_items SET id = id WHERE id = $1", 1)
			return err
		}, "TouchItems", map[string]string{"db.query.summary": "TouchItems", "db.operation.name": "UPDATE"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.sr.Reset()
			ctx, root := e.root(t)
			err := c.run(ctx)
			root.End()
			if (err != nil) != c.err {
				t.Fatalf("err = %v", err)
			}
			s := only(t, e, c.span)
			checkAttrs(t, s, c.want)
			if wantCode := map[bool]codes.Code{true: codes.Error, false: codes.Unset}[c.err]; s.Status().Code != wantCode {
				t.Errorf("status %v, want %v", s.Status(), wantCode)
			}
		})
	}
}

func TestPreparedStatement(t *testing.T) {
	e := setup(t, nil, nil)
	ctx, root := e.root(t)
	st, err := e.db.PrepareContext(ctx, "SELECT $1::int + 1")
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := st.QueryRowContext(ctx, 41).Scan(&v); err != nil || v != 42 {
		t.Fatal(v, err)
	}
	if _, err := st.ExecContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	st.Close()
	root.End()
	checkAttrs(t, only(t, e, "PREPARE SELECT"), map[string]string{"db.operation.name": "PREPARE", "db.query.text": "SELECT $1::int + 1"})
	n := 0
	for _, s := range e.spans() {
		if s.Name() == "SELECT" {
			n++
			checkAttrs(t, s, map[string]string{"db.operation.name": "SELECT", "db.query.text": "SELECT $1::int + 1"})
		}
	}
	if n != 2 {
		t.Fatalf("%d statement spans, want 2", n)
	}
}

func TestTransactionSpans(t *testing.T) {
	e := setup(t, nil, nil)
	mustExec(t, e.db, "CREATE TABLE IF NOT EXISTS otel_tx (id int)")
	for _, commit := range []bool{true, false} {
		t.Run(map[bool]string{true: "commit", false: "rollback"}[commit], func(t *testing.T) {
			e.sr.Reset()
			ctx, root := e.root(t)
			tx, err := e.db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO otel_tx VALUES ($1)", 1); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM otel_tx").Scan(&n); err != nil {
				t.Fatal(err)
			}
			end, endName := tx.Commit, "COMMIT"
			if !commit {
				end, endName = tx.Rollback, "ROLLBACK"
			}
			if err := end(); err != nil {
				t.Fatal(err)
			}
			root.End()
			txs := only(t, e, "transaction")
			if txs.Parent().SpanID() != root.SpanContext().SpanID() {
				t.Error("transaction span is not a child of the caller's span")
			}
			checkAttrs(t, txs, map[string]string{"db.system.name": "postgresql", "db.namespace": "postgres"})
			for _, name := range []string{"INSERT otel_tx", "SELECT otel_tx", endName} {
				s := only(t, e, name)
				if s.Parent().SpanID() != txs.SpanContext().SpanID() {
					t.Errorf("%s is not a child of the transaction span", name)
				}
			}
			checkAttrs(t, only(t, e, endName), map[string]string{"db.operation.name": endName})
		})
	}
}

func TestCancellationIsNotAnError(t *testing.T) {
	var cancel context.CancelFunc
	// Cancel once the statement is on its way, inside the tracing middleware: a machine too
	// slow to connect within the delay must not cancel it before its span starts.
	cancelSoon := middleware.Wrappers{Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
		return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
			timer := time.AfterFunc(100*time.Millisecond, cancel)
			defer timer.Stop()
			return next(ctx, s)
		}
	}}
	e := setup(t, []middleware.Middleware{cancelSoon}, nil)
	ctx, root := e.root(t)
	ctx, cancel = context.WithCancel(ctx)
	defer cancel()
	_, err := e.db.ExecContext(ctx, "SELECT pg_sleep(30)")
	root.End()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	s := only(t, e, "SELECT")
	if s.Status().Code != codes.Unset {
		t.Errorf("status %v", s.Status())
	}
	checkAttrs(t, s, map[string]string{"error.type": "-"})
}

func TestNoSpans(t *testing.T) {
	cases := []struct {
		name string
		ctx  func(context.Context) context.Context
		root bool
		want int
	}{
		{"no parent", func(context.Context) context.Context { return context.Background() }, false, 0},
		{"opt out", pgotel.WithoutTracing, false, 0},
		{"root spans allowed", func(context.Context) context.Context { return context.Background() }, true, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := setup(t, nil, nil, pgotel.WithRootSpans(c.root))
			ctx, root := e.root(t)
			if _, err := e.db.ExecContext(c.ctx(ctx), "SELECT 1"); err != nil {
				t.Fatal(err)
			}
			root.End()
			if n := len(e.spans()); n != c.want {
				t.Fatalf("%d spans, want %d", n, c.want)
			}
			var total uint64
			recorder.Of(e.rec).Ops(func(o recorder.OpStats) { total += o.Duration.Count })
			if total != 1 {
				t.Fatalf("recorded %d operations, want 1", total)
			}
		})
	}
}

func TestNamespaceFromSearchPath(t *testing.T) {
	tenant := middleware.Wrappers{Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
		return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
			s.State = s.State.With("search_path", middleware.SearchPath("otel_tenant"))
			return next(ctx, s)
		}
	}}
	type tenantKey struct{}
	cases := []struct {
		name   string
		before []middleware.Middleware
		opts   []pgotel.Option
		ctx    func(context.Context) context.Context
	}{
		{"declared state", []middleware.Middleware{tenant}, nil, func(ctx context.Context) context.Context { return ctx }},
		{"schema function", nil, []pgotel.Option{pgotel.WithSchema(func(ctx context.Context) string {
			s, _ := ctx.Value(tenantKey{}).(string)
			return s
		})}, func(ctx context.Context) context.Context { return context.WithValue(ctx, tenantKey{}, "otel_tenant") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := setupAround(t, c.before, nil, nil, c.opts...)
			mustExec(t, e.db, "CREATE SCHEMA IF NOT EXISTS otel_tenant")
			ctx, root := e.root(t)
			if _, err := e.db.ExecContext(c.ctx(ctx), "SELECT 2"); err != nil {
				t.Fatal(err)
			}
			root.End()
			checkAttrs(t, only(t, e, "SELECT"), map[string]string{"db.namespace": "postgres|otel_tenant"})
		})
	}
}

func TestRetryAttemptsAreEvents(t *testing.T) {
	attempts := 0
	retry := middleware.Wrappers{Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
		return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
			var err error
			for i := 1; i <= 3; i++ {
				attempts++
				pgotel.AddAttemptEvent(ctx, i, err)
				var res driver.Result
				if res, err = next(ctx, s); err == nil {
					return res, nil
				}
			}
			return nil, err
		}
	}}
	e := setup(t, []middleware.Middleware{retry}, nil)
	ctx, root := e.root(t)
	if _, err := e.db.ExecContext(ctx, "SELECT 1 / 0"); err == nil {
		t.Fatal("expected an error")
	}
	root.End()
	s := only(t, e, "SELECT")
	if len(s.Events()) != 3 || attempts != 3 {
		t.Fatalf("%d events for %d attempts", len(s.Events()), attempts)
	}
	last := s.Events()[2]
	got := map[string]string{}
	for _, kv := range last.Attributes {
		got[string(kv.Key)] = kv.Value.Emit()
	}
	if last.Name != "db.attempt" || got["db.attempt"] != "3" || got["error.type"] != "22012" {
		t.Fatalf("event %s %v", last.Name, got)
	}
}

// pgxTracer records the span that is current when pgx starts a query.
type pgxTracer struct{ parents chan trace.SpanContext }

func (p pgxTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	select {
	case p.parents <- trace.SpanContextFromContext(ctx):
	default:
	}
	return ctx
}

func (pgxTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func TestPgxTracerNests(t *testing.T) {
	tr := pgxTracer{parents: make(chan trace.SpanContext, 1)}
	e := setup(t, nil, []pgprovider.Option{pgprovider.WithConnConfig(func(cc *pgx.ConnConfig) { cc.Tracer = tr })})
	ctx, root := e.root(t)
	if _, err := e.db.ExecContext(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	root.End()
	got := <-tr.parents
	if got.SpanID() != only(t, e, "SELECT").SpanContext().SpanID() {
		t.Fatal("the pgx tracer did not see the operation span in its context")
	}
}

func TestAttemptEventWithoutSpan(t *testing.T) {
	pgotel.AddAttemptEvent(context.Background(), 1, nil) // must not panic
	_ = attribute.Key("")
}

// Every transaction span ends: a failed BEGIN ends it with an error; a transaction that
// database/sql rolls back because its context was cancelled ends it through ROLLBACK; and the
// statements of the transaction are its children without any shared map (Session.TxValue).
func TestTransactionSpanAlwaysEnds(t *testing.T) {
	rolledBack := make(chan struct{})
	signal := middleware.Wrappers{Rollback: func(next middleware.CallFunc) middleware.CallFunc {
		return func(ctx context.Context, c middleware.Call) error {
			err := next(ctx, c) // the tracing middleware, inside, has ended its spans
			close(rolledBack)
			return err
		}
	}}
	e := setupAround(t, []middleware.Middleware{signal}, nil, nil)
	mw := pgotel.New(pgotel.WithTracerProvider(e.tp))
	ctx, root := e.root(t)
	failing := mw.Wrappers(nil).Begin(func(context.Context, middleware.Begin) error { return driver.ErrBadConn })
	if err := failing(ctx, middleware.Begin{Session: session{}}); !errors.Is(err, driver.ErrBadConn) {
		t.Fatal(err)
	}
	if s := only(t, e, "transaction"); s.Status().Code != codes.Error {
		t.Fatalf("failed begin: status %v", s.Status())
	}
	e.sr.Reset()
	tctx, cancel := context.WithCancel(ctx)
	tx, err := e.db.BeginTx(tctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(tctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	cancel() // database/sql rolls the transaction back, on a goroutine of its own
	if err := tx.Commit(); err == nil {
		t.Fatal("commit after cancel succeeded")
	}
	select {
	case <-rolledBack:
	case <-time.After(10 * time.Second):
		t.Fatal("database/sql never rolled the cancelled transaction back")
	}
	root.End()
	txs := only(t, e, "transaction")
	if sel := only(t, e, "SELECT"); sel.Parent().SpanID() != txs.SpanContext().SpanID() {
		t.Fatal("the statement is not a child of the transaction span")
	}
	if rb := only(t, e, "ROLLBACK"); rb.Parent().SpanID() != txs.SpanContext().SpanID() {
		t.Fatal("ROLLBACK is not a child of the transaction span")
	}
}
