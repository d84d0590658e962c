package middleware

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"
	"testing"
)

// recExec is an Executor that records the operations it runs.
type recExec struct{ log *[]string }

func (r recExec) add(op string) { *r.log = append(*r.log, "exec:"+op) }

func (r recExec) Connect(context.Context, Call) error      { r.add("connect"); return nil }
func (r recExec) Ping(context.Context, Call) error         { r.add("ping"); return nil }
func (r recExec) ResetSession(context.Context, Call) error { r.add("reset_session"); return nil }
func (r recExec) Begin(context.Context, Begin) error       { r.add("begin"); return nil }
func (r recExec) Commit(context.Context, Call) error       { r.add("commit"); return nil }
func (r recExec) Rollback(context.Context, Call) error     { r.add("rollback"); return nil }
func (r recExec) Prepare(context.Context, Statement) (driver.Stmt, error) {
	r.add("prepare")
	return nil, nil
}
func (r recExec) Exec(context.Context, Statement) (driver.Result, error) {
	r.add("exec")
	return nil, nil
}
func (r recExec) Query(context.Context, Statement) (driver.Rows, error) {
	r.add("query")
	return nil, nil
}
func (r recExec) StmtClose(context.Context, Call) error  { r.add("stmt_close"); return nil }
func (r recExec) RowsEnd(context.Context, RowsEnd) error { r.add("rows_end"); return nil }
func (r recExec) Raw(context.Context, Call) error        { r.add("raw"); return nil }
func (r recExec) Release(context.Context, Call) error    { r.add("release"); return nil }

// all wraps every operation through the Wrap interfaces.
type all struct {
	name string
	log  *[]string
}

func (a all) call(op string, next CallFunc) CallFunc {
	return func(ctx context.Context, c Call) error { *a.log = append(*a.log, a.name+":"+op); return next(ctx, c) }
}
func (a all) WrapConnect(n CallFunc) CallFunc      { return a.call("connect", n) }
func (a all) WrapPing(n CallFunc) CallFunc         { return a.call("ping", n) }
func (a all) WrapResetSession(n CallFunc) CallFunc { return a.call("reset_session", n) }
func (a all) WrapCommit(n CallFunc) CallFunc       { return a.call("commit", n) }
func (a all) WrapRollback(n CallFunc) CallFunc     { return a.call("rollback", n) }
func (a all) WrapStmtClose(n CallFunc) CallFunc    { return a.call("stmt_close", n) }
func (a all) WrapRaw(n CallFunc) CallFunc          { return a.call("raw", n) }
func (a all) WrapRelease(n CallFunc) CallFunc      { return a.call("release", n) }
func (a all) WrapBegin(n BeginFunc) BeginFunc {
	return func(ctx context.Context, b Begin) error { *a.log = append(*a.log, a.name+":begin"); return n(ctx, b) }
}
func (a all) WrapPrepare(n PrepareFunc) PrepareFunc {
	return func(ctx context.Context, s Statement) (driver.Stmt, error) {
		*a.log = append(*a.log, a.name+":prepare")
		return n(ctx, s)
	}
}
func (a all) WrapExec(n ExecFunc) ExecFunc {
	return func(ctx context.Context, s Statement) (driver.Result, error) {
		*a.log = append(*a.log, a.name+":exec")
		return n(ctx, s)
	}
}
func (a all) WrapQuery(n QueryFunc) QueryFunc {
	return func(ctx context.Context, s Statement) (driver.Rows, error) {
		*a.log = append(*a.log, a.name+":query")
		return n(ctx, s)
	}
}
func (a all) WrapRowsEnd(n RowsEndFunc) RowsEndFunc {
	return func(ctx context.Context, e RowsEnd) error {
		*a.log = append(*a.log, a.name+":rows_end")
		return n(ctx, e)
	}
}
func (a all) Close() error {
	*a.log = append(*a.log, a.name+":close")
	if a.name == "b" {
		return errors.New("b close failed")
	}
	return nil
}
func (a all) Rank() Rank { return RankObserve }

// asFuncs converts all into the equivalent Funcs value.
func asFuncs(a all) *Funcs {
	return &Funcs{Connect: a.WrapConnect, Ping: a.WrapPing, ResetSession: a.WrapResetSession, Begin: a.WrapBegin,
		Commit: a.WrapCommit, Rollback: a.WrapRollback, Prepare: a.WrapPrepare, Exec: a.WrapExec, Query: a.WrapQuery,
		StmtClose: a.WrapStmtClose, RowsEnd: a.WrapRowsEnd, Raw: a.WrapRaw, Release: a.WrapRelease, Rank: RankRetry}
}

func runAll(c *Chain) {
	ctx := context.Background()
	c.Connect(ctx, Call{})
	c.Ping(ctx, Call{})
	c.ResetSession(ctx, Call{})
	c.Begin(ctx, Begin{})
	c.Commit(ctx, Call{})
	c.Rollback(ctx, Call{})
	c.Prepare(ctx, Statement{})
	c.Exec(ctx, Statement{})
	c.Query(ctx, Statement{})
	c.StmtClose(ctx, Call{})
	c.RowsEnd(ctx, RowsEnd{})
	c.Raw(ctx, Call{})
	c.Release(ctx, Call{})
}

func TestChainEveryOperation(t *testing.T) {
	var log []string
	c, err := NewChain(recExec{&log}, all{"a", &log}, asFuncs(all{"f", &log}))
	if err != nil {
		t.Fatal(err)
	}
	runAll(c)
	ops := []string{"connect", "ping", "reset_session", "begin", "commit", "rollback", "prepare", "exec", "query", "stmt_close", "rows_end", "raw", "release"}
	var want []string
	for _, op := range ops {
		want = append(want, "a:"+op, "f:"+op, "exec:"+op)
	}
	if got := strings.Join(log, " "); got != strings.Join(want, " ") {
		t.Fatalf("got  %s\nwant %s", got, strings.Join(want, " "))
	}
	for op := OpConnect; op < opCount; op++ {
		if !c.Wraps(op) {
			t.Errorf("Wraps(%s) = false", op)
		}
	}
	if c.Empty() || len(c.Middleware()) != 2 {
		t.Fatal("Empty/Middleware")
	}
	log = nil
	if err := c.Close(); err != nil { // only all implements io.Closer; *Funcs does not
		t.Fatal(err)
	}
	if strings.Join(log, " ") != "a:close" {
		t.Fatalf("close: %v", log)
	}
}

func TestChainEmptyAndErrors(t *testing.T) {
	var log []string
	c, err := NewChain(recExec{&log})
	if err != nil || !c.Empty() {
		t.Fatal(err)
	}
	for op := OpConnect; op < opCount; op++ {
		if c.Wraps(op) {
			t.Errorf("empty chain wraps %s", op)
		}
	}
	if c.Wraps(Op(200)) {
		t.Error("Wraps of an invalid op")
	}
	runAll(c)
	if len(log) != 13 {
		t.Fatalf("executor ran %d ops", len(log))
	}
	if _, err := NewChain(nil); err == nil {
		t.Fatal("nil executor accepted")
	}
	if _, err := NewChain(recExec{&log}, Funcs{Rank: RankRouting, Exec: func(n ExecFunc) ExecFunc { return n }}, all{"x", &log}); !errors.Is(err, ErrOrder) {
		t.Fatalf("order: %v", err)
	}
	if _, err := NewChain(recExec{&log}, &Funcs{}); err == nil {
		t.Fatal("empty *Funcs accepted")
	}
	// Close joins errors from every closer, in reverse order.
	log = nil
	c, _ = NewChain(recExec{&log}, all{"a", &log}, all{"b", &log})
	if err := c.Close(); err == nil || !strings.Contains(err.Error(), "b close failed") {
		t.Fatalf("close error: %v", err)
	}
	if strings.Join(log, " ") != "b:close a:close" {
		t.Fatalf("close order: %v", log)
	}
}

func TestOpString(t *testing.T) {
	for op, want := range map[Op]string{OpExec: "exec", OpStmtQuery: "stmt_query", OpRowsEnd: "rows_end", OpUnknown: "unknown", Op(99): "unknown"} {
		if op.String() != want {
			t.Errorf("%d: %q", op, op.String())
		}
	}
}

func TestState(t *testing.T) {
	s := State{}.With("a", "1").With("b", "2").With("a", "3")
	if v, ok := s.Get("a"); !ok || v != "3" || len(s) != 2 {
		t.Fatalf("%v", s)
	}
	if _, ok := s.Get("c"); ok {
		t.Fatal("Get of a missing name")
	}
	base := State{{Name: "x", Value: "1"}}
	_ = base.With("y", "2")
	if len(base) != 1 {
		t.Fatal("With changed its receiver")
	}
	if got := SearchPath(`t"1`, "shared"); got != `"t""1", "shared", pg_temp` {
		t.Fatalf("SearchPath: %s", got)
	}
	if got := SearchPath(); got != "pg_temp" {
		t.Fatalf("SearchPath(): %s", got)
	}
}
