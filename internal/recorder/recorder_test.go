package recorder

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
)

func TestHistogramBuckets(t *testing.T) {
	var h Histogram
	for _, d := range []time.Duration{0, time.Millisecond, 2 * time.Millisecond, 700 * time.Millisecond, 11 * time.Second} {
		h.Observe(d)
	}
	s := h.Snapshot()
	want := [10]uint64{2, 1, 0, 0, 0, 0, 1, 0, 0, 1}
	if s.Counts != want || s.Count != 5 {
		t.Fatalf("counts %v count %d", s.Counts, s.Count)
	}
	if s.Sum < 11.7 || s.Sum > 11.71 {
		t.Fatalf("sum %v", s.Sum)
	}
	c := s.Cumulative()
	if c[0.001] != 2 || c[1] != 4 || c[10] != 4 {
		t.Fatalf("cumulative %v", c)
	}
}

func TestDescribe(t *testing.T) {
	cases := []struct {
		err  error
		want Outcome
	}{
		{nil, Outcome{}},
		{&pgconn.PgError{Code: "23505", Message: "secret value"}, Outcome{Type: "23505", SQLState: "23505", Error: true}},
		{fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "40001"}), Outcome{Type: "40001", SQLState: "40001", Error: true}},
		{context.Canceled, Outcome{Type: "canceled"}},
		{sql.ErrNoRows, Outcome{Type: "none"}},
		{driver.ErrSkip, Outcome{Type: "none"}},
		{context.DeadlineExceeded, Outcome{Type: "timeout", Error: true}},
		{driver.ErrBadConn, Outcome{Type: "not_sent", Error: true}},
		{&pgerror.OutcomeUnknownError{Op: middleware.OpExec, Err: io.EOF}, Outcome{Type: "outcome_unknown", Error: true}},
		{errors.New("x"), Outcome{Type: "other", Error: true}},
	}
	for _, c := range cases {
		if got := Describe(c.err); got != c.want {
			t.Errorf("Describe(%v) = %+v, want %+v", c.err, got, c.want)
		}
	}
	for in, want := range map[string]string{"23505": "23", "XX000": "XX", "canceled": "", "2350": "", "23a05": ""} {
		if got := sqlstateClass(in); got != want {
			t.Errorf("class(%q) = %q", in, got)
		}
	}
}

type stats map[[2]string]uint64

func collect(r *Recorder) stats {
	s := stats{}
	r.Ops(func(o OpStats) { s[[2]string{o.Operation, o.ErrorType}] += o.Duration.Count })
	return s
}

func TestRecorderMiddleware(t *testing.T) {
	r := New()
	if r.Wrappers(nil).Rank != middleware.RankObserve || r.Start().IsZero() {
		t.Fatal("rank/start")
	}
	dup := &pgconn.PgError{Code: "23505"}
	ctx := context.Background()
	exec := r.wrapExec(func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
		if s.SQL == "INSERT INTO t VALUES (1)" {
			return nil, dup
		}
		return driver.RowsAffected(1), nil
	})
	_, _ = exec(ctx, middleware.Statement{SQL: "INSERT INTO t VALUES (1)"})
	_, _ = exec(ctx, middleware.Statement{SQL: "INSERT INTO t VALUES (2)"})
	query := r.wrapQuery(func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
		if s.SQL == "bad" {
			return nil, context.Canceled
		}
		return nil, nil
	})
	_, _ = query(ctx, middleware.Statement{SQL: "bad"})
	_, _ = query(ctx, middleware.Statement{SQL: "SELECT 1"}) // recorded at rows end
	end := r.wrapRowsEnd(func(ctx context.Context, e middleware.RowsEnd) error { return e.Err })
	_ = end(ctx, middleware.RowsEnd{Statement: middleware.Statement{SQL: "SELECT 1"}, Duration: time.Millisecond})
	call := func(ctx context.Context, c middleware.Call) error { return nil }
	_ = r.wrapBegin(func(ctx context.Context, b middleware.Begin) error { return nil })(ctx, middleware.Begin{})
	_ = r.wrapCommit(call)(ctx, middleware.Call{})
	_ = r.wrapRollback(call)(ctx, middleware.Call{})
	_ = r.wrapConnect(call)(ctx, middleware.Call{})
	_ = r.wrapConnect(func(ctx context.Context, c middleware.Call) error { return io.EOF })(ctx, middleware.Call{})
	r.ObserveKind("UPDATE", nil, time.Millisecond)
	r.ObserveKind("FROB", nil, time.Millisecond)
	r.AddAttempts(2)
	want := stats{{"INSERT", "23505"}: 1, {"INSERT", ""}: 1, {"", "canceled"}: 1, {"SELECT", ""}: 1,
		{"BEGIN", ""}: 1, {"COMMIT", ""}: 1, {"ROLLBACK", ""}: 1, {"UPDATE", ""}: 1, {"", ""}: 1}
	got := collect(r)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	cs, failed := r.ConnectStats()
	if cs.Count != 1 || failed != 1 || r.Attempts() != 2 {
		t.Fatalf("connect %d/%d attempts %d", cs.Count, failed, r.Attempts())
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	r := New()
	r.ObserveSQL("SELECT 1", nil, time.Millisecond)
	dup := &pgconn.PgError{Code: "23505"}
	r.ObserveSQL("SELECT 1", dup, time.Millisecond)
	if n := testing.AllocsPerRun(100, func() { r.ObserveSQL("SELECT 1", nil, time.Millisecond) }); n != 0 {
		t.Fatalf("success path allocates %v", n)
	}
	if n := testing.AllocsPerRun(100, func() { r.ObserveSQL("SELECT 1", dup, time.Millisecond) }); n > 1 {
		t.Fatalf("error path allocates %v", n)
	}
}

func BenchmarkObserve(b *testing.B) {
	r := New()
	b.ReportAllocs()
	for b.Loop() {
		r.ObserveSQL("SELECT 1", nil, time.Millisecond)
	}
}

func TestUseTime(t *testing.T) {
	r := New()
	r.Release(7) // a return without a checkout is ignored
	r.CheckOut(7)
	r.CheckOut(8)
	r.Release(7)
	r.Release(7)
	if s := r.UseStats(); s.Count != 1 {
		t.Fatalf("use count %d, want 1", s.Count)
	}
	r.Release(8)
	if s := r.UseStats(); s.Count != 2 {
		t.Fatalf("use count %d, want 2", s.Count)
	}
}

// BenchmarkCheckOutRelease is what a pooled connection pays per use for
// db.client.connection.use_time: a checkout (reset session) and a release.
func BenchmarkCheckOutRelease(b *testing.B) {
	r := New()
	b.ReportAllocs()
	for b.Loop() {
		r.CheckOut(3)
		r.Release(3)
	}
}

// TestUseTimeSameShard: sessions whose IDs share a shard (the first in its own fields, the
// others in the shard's map) are each released once, whatever the order.
func TestUseTimeSameShard(t *testing.T) {
	r := New()
	ids := []uint64{5, 5 + checkoutShards, 5 + 2*checkoutShards}
	for _, id := range ids {
		r.CheckOut(id)
	}
	r.CheckOut(ids[1]) // a second checkout of a session restarts its use
	sh := &r.checkouts[5]
	if !sh.has || sh.id != ids[0] || len(sh.m) != 2 {
		t.Fatalf("shard: has %v id %d map %v", sh.has, sh.id, sh.m)
	}
	// the second release of ids[0] is ignored
	for i, id := range []uint64{ids[1], ids[0], ids[0], ids[2]} {
		r.Release(id)
		if s, want := r.UseStats(), []uint64{1, 2, 2, 3}[i]; s.Count != want {
			t.Fatalf("release %d: use count %d, want %d", i, s.Count, want)
		}
	}
	r.CheckOut(ids[2]) // the shard's own fields are free again
	if !sh.has || sh.id != ids[2] || len(sh.m) != 0 {
		t.Fatalf("shard: has %v id %d map %v", sh.has, sh.id, sh.m)
	}
	if unsafe.Sizeof(*sh) != 64 {
		t.Errorf("a shard takes %d bytes, want one cache line", unsafe.Sizeof(*sh))
	}
}
