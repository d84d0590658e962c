package pgotel_test

import (
	"context"
	"database/sql/driver"
	"maps"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider/internal/recorder"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/middleware/metrics"
	pgotel "github.com/pgprovider/pgprovider/middleware/pgotel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// session is the middleware.Session the wrappers see: a connection outside a transaction.
type session struct{}

func (session) ID() uint64                      { return 1 }
func (session) InTx() bool                      { return false }
func (session) Pinned() bool                    { return false }
func (session) Backend() middleware.BackendInfo { return middleware.BackendInfo{} }
func (session) TxValue(any) any                 { return nil }

// direct runs the middleware around executors that do nothing, without a database.
type direct struct {
	sr    *tracetest.SpanRecorder
	rec   *metrics.Recorder
	query middleware.QueryFunc
	end   middleware.RowsEndFunc
	exec  middleware.ExecFunc
	inner context.Context // the context the executor's query received
}

func newDirect(t *testing.T, sampler sdktrace.Sampler, opts ...pgotel.Option) *direct {
	t.Helper()
	d := &direct{sr: tracetest.NewSpanRecorder(), rec: metrics.New()}
	cc, err := pgx.ParseConfig("postgres://u@db.example:5433/app")
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithSpanProcessor(d.sr))
	mw := pgotel.New(append([]pgotel.Option{pgotel.WithTracerProvider(tp), pgotel.WithRecorder(d.rec), pgotel.WithRootSpans(true),
		pgotel.WithConnConfig(cc)}, opts...)...)
	d.query = mw.Wrappers(nil).Query(func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
		d.inner = ctx
		return nil, nil
	})
	d.end = mw.Wrappers(nil).RowsEnd(func(ctx context.Context, e middleware.RowsEnd) error { return e.Err })
	d.exec = mw.Wrappers(nil).Exec(func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
		time.Sleep(2 * time.Millisecond)
		return driver.RowsAffected(1), nil
	})
	return d
}

func (d *direct) run(t *testing.T, ctx context.Context, sql string) {
	t.Helper()
	s := middleware.Statement{Op: middleware.OpQuery, Session: session{}, SQL: sql}
	if _, err := d.query(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := d.end(d.inner, middleware.RowsEnd{Statement: s, Rows: 1, Duration: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
}

func (d *direct) ops() uint64 {
	var n uint64
	recorder.Of(d.rec).Ops(func(o recorder.OpStats) { n += o.Duration.Count })
	return n
}

// TestCachedSpanAttributes: the attributes built once per text are those built per call
// (a caller summary or a schema takes the per-call path), and stay right on later calls.
func TestCachedSpanAttributes(t *testing.T) {
	type schemaKey struct{}
	d := newDirect(t, sdktrace.AlwaysSample(), pgotel.WithSchema(func(ctx context.Context) string {
		s, _ := ctx.Value(schemaKey{}).(string)
		return s
	}))
	const sql = "SELECT name FROM users WHERE id = $1"
	ctx := context.Background()
	d.run(t, ctx, sql)                                                 // builds the cached options
	d.run(t, ctx, sql)                                                 // uses them
	d.run(t, pgotel.WithSummary(ctx, "GetUser"), sql)                  // per call
	d.run(t, context.WithValue(ctx, schemaKey{}, "tenant_a"), sql)     // per call
	d.run(t, ctx, sql)                                                 // cached again
	d.run(t, pgotel.WithoutTracing(pgotel.WithSummary(ctx, "X")), sql) // no span
	spans := d.sr.Ended()
	if len(spans) != 5 {
		t.Fatalf("%d spans, want 5", len(spans))
	}
	want := map[string]string{
		"db.system.name": "postgresql", "server.address": "db.example", "server.port": "5433",
		"db.namespace": "app", "db.operation.name": "SELECT", "db.query.summary": "SELECT users",
		"db.query.text": sql,
	}
	for i, s := range spans {
		w := maps.Clone(want)
		name := "SELECT users"
		switch i {
		case 2:
			w["db.query.summary"], name = "GetUser", "GetUser"
		case 3:
			w["db.namespace"] = "app|tenant_a"
		}
		if got := attrs(s); !maps.Equal(got, w) || s.Name() != name {
			t.Errorf("span %d: %q %v, want %q %v", i, s.Name(), got, name, w)
		}
	}
	if n := d.ops(); n != 6 {
		t.Fatalf("recorded %d operations, want 6", n)
	}
}

// TestQuerySpanFoundThroughInnerContexts: the end of a result set finds the query span when
// middleware listed after this one passed a context of its own down, and when another
// instance of the middleware wraps the query too.
func TestQuerySpanFoundThroughInnerContexts(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	outer := pgotel.New(pgotel.WithTracerProvider(tp), pgotel.WithRootSpans(true))
	inner := pgotel.New(pgotel.WithTracerProvider(tp))
	type k struct{}
	var innerCtx context.Context
	query := outer.Wrappers(nil).Query(inner.Wrappers(nil).Query(func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
		innerCtx = context.WithValue(ctx, k{}, 1)
		return nil, nil
	}))
	end := outer.Wrappers(nil).RowsEnd(inner.Wrappers(nil).RowsEnd(func(context.Context, middleware.RowsEnd) error { return nil }))
	s := middleware.Statement{Op: middleware.OpQuery, Session: session{}, SQL: "SELECT 1"}
	if _, err := query(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if len(sr.Started()) != 2 {
		t.Fatalf("%d spans started, want 2", len(sr.Started()))
	}
	if err := end(innerCtx, middleware.RowsEnd{Statement: s}); err != nil {
		t.Fatal(err)
	}
	if len(sr.Ended()) != 2 {
		t.Fatalf("%d spans ended, want 2", len(sr.Ended()))
	}
}

// TestUnsampledQuery: a span that does not record is not carried to the end of the result
// set; the metrics are recorded all the same.
func TestUnsampledQuery(t *testing.T) {
	d := newDirect(t, sdktrace.NeverSample())
	d.run(t, context.Background(), "SELECT 1")
	if len(d.sr.Ended()) != 0 {
		t.Fatal("unexpected span")
	}
	if n := d.ops(); n != 1 {
		t.Fatalf("recorded %d operations, want 1", n)
	}
	// the SDK's own: its copy of the attributes, the non-recording span, the context holding it
	if n := testing.AllocsPerRun(100, func() { d.run(t, context.Background(), "SELECT 1") }); n > 3 {
		t.Errorf("an unsampled query allocates %v times", n)
	}
}

// TestExecDurationIsSpanDuration: the duration metric of a statement is its span's.
func TestExecDurationIsSpanDuration(t *testing.T) {
	d := newDirect(t, sdktrace.AlwaysSample())
	s := middleware.Statement{Op: middleware.OpExec, Session: session{}, SQL: "UPDATE t SET n = 1"}
	if _, err := d.exec(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	span := d.sr.Ended()[0]
	var sum float64
	recorder.Of(d.rec).Ops(func(o recorder.OpStats) { sum += o.Duration.Sum })
	if got, want := sum, span.EndTime().Sub(span.StartTime()).Seconds(); got < want-1e-9 || got > want+1e-9 || got < 0.002 {
		t.Fatalf("metric %vs, span %vs", got, want)
	}
}

func TestContextOptionsCombine(t *testing.T) {
	d := newDirect(t, sdktrace.AlwaysSample())
	ctx := pgotel.WithSummary(pgotel.WithoutTracing(context.Background()), "Named")
	d.run(t, ctx, "SELECT 1")
	if n := len(d.sr.Ended()); n != 0 {
		t.Fatalf("WithSummary undid WithoutTracing: %d spans", n)
	}
}
