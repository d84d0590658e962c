// Package recorder is pgprovider's in-driver metrics recorder: one cheap recorder per
// operation kind (atomic counters and fixed-bucket histograms with the OpenTelemetry
// semantic-convention buckets, no allocation on the success path) that both the OpenTelemetry
// exporter (package pgotel) and the Prometheus collector (package pgprom)
// read, so the hot path pays once whatever is exported.
//
// Users hold a recorder as a *metrics.Recorder (package middleware/metrics); pgotel and pgprom
// reach the Recorder behind it with [Of].
package recorder

import (
	"context"
	"database/sql/driver"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgprovider/pgprovider/internal/sqlscan"
	"github.com/pgprovider/pgprovider/middleware"
)

// Buckets are the histogram bucket upper bounds in seconds, as the OpenTelemetry database
// semantic conventions advise for db.client.operation.duration.
var Buckets = [...]float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10}

var bucketNanos = func() (b [len(Buckets)]int64) {
	for i, s := range Buckets {
		b[i] = int64(s * 1e9)
	}
	return b
}()

// Histogram is a fixed-bucket duration histogram updated with atomic operations.
// The zero value is ready to use.
type Histogram struct {
	counts [len(Buckets) + 1]atomic.Uint64 // the total count is their sum
	sum    atomic.Int64                    // nanoseconds
}

// Observe records one duration.
func (h *Histogram) Observe(d time.Duration) {
	n := int64(d)
	i := 0
	for i < len(bucketNanos) && n > bucketNanos[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(n)
}

// HistogramSnapshot is a point-in-time copy of a [Histogram].
type HistogramSnapshot struct {
	// Counts holds the number of observations per bucket (not cumulative); the last entry
	// counts observations above the largest bound.
	Counts [len(Buckets) + 1]uint64
	// Count is the number of observations.
	Count uint64
	// Sum is the total of the observations, in seconds.
	Sum float64
}

// Snapshot copies the histogram. Under concurrent updates Sum may briefly lag or lead Counts
// by the observations in flight.
func (h *Histogram) Snapshot() HistogramSnapshot {
	var s HistogramSnapshot
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
		s.Count += s.Counts[i]
	}
	s.Sum = float64(h.sum.Load()) / 1e9
	return s
}

// Cumulative returns the cumulative bucket counts (Prometheus style), one per bound.
func (s HistogramSnapshot) Cumulative() map[float64]uint64 {
	m := make(map[float64]uint64, len(Buckets))
	var acc uint64
	for i, b := range Buckets {
		acc += s.Counts[i]
		m[b] = acc
	}
	return m
}

type errKey struct {
	kind sqlscan.Kind
	code string
}

// Recorder accumulates operation durations, connection creation times and retry attempts.
// Build it with [New]; it is safe for concurrent use.
type Recorder struct {
	start    time.Time
	ok       [sqlscan.KindCount]Histogram
	errs     sync.Map // errKey -> *Histogram
	create   Histogram
	createKO atomic.Uint64
	attempts atomic.Uint64

	use       Histogram
	checkouts [checkoutShards]checkoutShard // session ID -> checkout time, while checked out
}

// checkoutShards spreads the checkout bookkeeping over several locks, so that sessions
// checked out in parallel rarely wait for each other.
const checkoutShards = 16

// checkoutShard holds the checkout times of the sessions whose ID falls in it, as
// nanoseconds since the recorder's start (a monotonic clock read, cheaper than time.Now).
// The first session checked out sits in fields of its own and only the others go to the
// map, so that a pool of up to checkoutShards connections updates no map.
type checkoutShard struct {
	mu  sync.Mutex
	has bool   // id and at hold a checked-out session
	id  uint64 // that session
	at  int64  // its checkout time
	m   map[uint64]int64
	_   [24]byte // one shard per cache line: shards of parallel sessions do not share one
}

func (sh *checkoutShard) put(id uint64, at int64) {
	if sh.has && sh.id == id {
		sh.at = at
		return
	}
	if _, ok := sh.m[id]; ok || sh.has {
		if sh.m == nil {
			sh.m = make(map[uint64]int64)
		}
		sh.m[id] = at
		return
	}
	sh.has, sh.id, sh.at = true, id, at
}

func (sh *checkoutShard) take(id uint64) (int64, bool) {
	if sh.has && sh.id == id {
		sh.has = false
		return sh.at, true
	}
	at, ok := sh.m[id]
	if ok {
		delete(sh.m, id)
	}
	return at, ok
}

// since returns the time elapsed since the recorder's start.
func (r *Recorder) since() int64 { return int64(time.Since(r.start)) }

// Of returns the recorder behind a *metrics.Recorder (package middleware/metrics), and nil
// for a nil one. That package sets it, so that the exporters reach the recorder while the
// public type shows none of it.
var Of func(public any) *Recorder

// New returns an empty Recorder.
func New() *Recorder { return &Recorder{start: time.Now()} }

// Start returns the time the recorder was created (the start of its cumulative series).
func (r *Recorder) Start() time.Time { return r.start }

// ObserveSQL records one operation on the statement text sql that took d and ended with err
// (nil for success). Context cancellation counts as an error of type "canceled".
func (r *Recorder) ObserveSQL(sql string, err error, d time.Duration) {
	r.ObserveOp(sqlscan.Shared.Get(sql).Kind, err, d)
}

// ObserveOp records one operation of kind k. It is meant for pgprovider's middleware
// packages, which already know the kind; others use [Recorder.ObserveSQL] or
// [Recorder.ObserveKind].
func (r *Recorder) ObserveOp(k sqlscan.Kind, err error, d time.Duration) {
	if k >= sqlscan.KindCount {
		k = sqlscan.KindOther
	}
	if err == nil {
		r.ok[k].Observe(d)
		return
	}
	c := Describe(err)
	key := errKey{k, c.Type}
	h, ok := r.errs.Load(key)
	if !ok {
		h, _ = r.errs.LoadOrStore(key, new(Histogram))
	}
	h.(*Histogram).Observe(d)
}

// ObserveConnect records the time taken to open a backend connection.
func (r *Recorder) ObserveConnect(err error, d time.Duration) {
	if err != nil {
		r.createKO.Add(1)
		return
	}
	r.create.Observe(d)
}

// CheckOut records that database/sql handed out session id (a new connection, or a pooled
// one it reset); [Recorder.Release] ends the use.
func (r *Recorder) CheckOut(id uint64) {
	at := r.since()
	sh := &r.checkouts[id%checkoutShards]
	sh.mu.Lock()
	sh.put(id, at)
	sh.mu.Unlock()
}

// Release records that session id went back to the pool, observing how long it was used.
func (r *Recorder) Release(id uint64) {
	sh := &r.checkouts[id%checkoutShards]
	sh.mu.Lock()
	at, ok := sh.take(id)
	sh.mu.Unlock()
	if ok {
		r.use.Observe(time.Duration(r.since() - at))
	}
}

// UseStats returns the histogram of the time connections were held, from checkout (a new
// connection or a pool reuse) to their return to the pool.
func (r *Recorder) UseStats() HistogramSnapshot { return r.use.Snapshot() }

// AddAttempts adds n retry attempts (attempts beyond the first). Retry middleware calls it
// through the OpenTelemetry middleware's AddAttemptEvent or directly.
func (r *Recorder) AddAttempts(n uint64) { r.attempts.Add(n) }

// OpStats is a snapshot of the durations of one operation kind and outcome.
type OpStats struct {
	// Operation is the upper-case operation name (SELECT, INSERT, ..., BEGIN, COMMIT), or ""
	// for other or multi-statement texts.
	Operation string
	// ErrorType is "" for success, else the SQLSTATE or a short error type (see [Classify]).
	ErrorType string
	// Class is the SQLSTATE class ("23") of ErrorType, or "" when it is not a SQLSTATE.
	Class    string
	Duration HistogramSnapshot
}

// Ops calls fn for every operation kind and outcome observed so far.
func (r *Recorder) Ops(fn func(OpStats)) {
	for k := range r.ok {
		if s := r.ok[k].Snapshot(); s.Count > 0 {
			fn(OpStats{Operation: sqlscan.Kind(k).String(), Duration: s})
		}
	}
	r.errs.Range(func(key, v any) bool {
		ek := key.(errKey)
		fn(OpStats{Operation: ek.kind.String(), ErrorType: ek.code, Class: sqlstateClass(ek.code), Duration: v.(*Histogram).Snapshot()})
		return true
	})
}

// ConnectStats returns the histogram of successful connection creation times and the
// number of failed attempts.
func (r *Recorder) ConnectStats() (HistogramSnapshot, uint64) {
	return r.create.Snapshot(), r.createKO.Load()
}

// Attempts returns the number of retry attempts reported with [Recorder.AddAttempts].
func (r *Recorder) Attempts() uint64 { return r.attempts.Load() }

// Wrappers measures connects, statements, result sets, transactions and how long connections
// are held; its rank places the recorder with the observability middleware, outermost.
func (r *Recorder) Wrappers(middleware.Connector) middleware.Wrappers {
	return middleware.Wrappers{
		Rank:         middleware.RankObserve,
		Connect:      r.wrapConnect,
		ResetSession: r.wrapResetSession,
		Release:      r.wrapRelease,
		Exec:         r.wrapExec,
		Query:        r.wrapQuery,
		RowsEnd:      r.wrapRowsEnd,
		Begin:        r.wrapBegin,
		Commit:       r.wrapCommit,
		Rollback:     r.wrapRollback,
	}
}

// wrapConnect measures connection creation, and marks the start of the new connection's use.
func (r *Recorder) wrapConnect(next middleware.CallFunc) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error {
		t := r.since()
		err := next(ctx, c)
		r.ObserveConnect(err, time.Duration(r.since()-t))
		if err == nil && c.Session != nil && !c.Session.InTx() {
			r.CheckOut(c.Session.ID())
		}
		return err
	}
}

// wrapResetSession marks the start of a pooled connection's use.
func (r *Recorder) wrapResetSession(next middleware.CallFunc) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error {
		r.CheckOut(c.Session.ID())
		return next(ctx, c)
	}
}

// wrapRelease observes how long the connection was used.
func (r *Recorder) wrapRelease(next middleware.CallFunc) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error {
		r.Release(c.Session.ID())
		return next(ctx, c)
	}
}

// wrapExec measures statements that return no rows.
func (r *Recorder) wrapExec(next middleware.ExecFunc) middleware.ExecFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
		t := r.since()
		res, err := next(ctx, s)
		r.ObserveSQL(s.SQL, err, time.Duration(r.since()-t))
		return res, err
	}
}

// wrapQuery records failed queries; successful ones are recorded when their result set ends.
func (r *Recorder) wrapQuery(next middleware.QueryFunc) middleware.QueryFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
		t := r.since()
		rows, err := next(ctx, s)
		if err != nil {
			r.ObserveSQL(s.SQL, err, time.Duration(r.since()-t))
		}
		return rows, err
	}
}

// wrapRowsEnd records a query when its result set ends, so the duration covers reading rows.
func (r *Recorder) wrapRowsEnd(next middleware.RowsEndFunc) middleware.RowsEndFunc {
	return func(ctx context.Context, e middleware.RowsEnd) error {
		err := next(ctx, e)
		r.ObserveSQL(e.Statement.SQL, err, e.Duration)
		return err
	}
}

// wrapBegin records BEGIN.
func (r *Recorder) wrapBegin(next middleware.BeginFunc) middleware.BeginFunc {
	return func(ctx context.Context, b middleware.Begin) error {
		t := r.since()
		err := next(ctx, b)
		r.ObserveOp(sqlscan.KindBegin, err, time.Duration(r.since()-t))
		return err
	}
}

// wrapCommit records COMMIT.
func (r *Recorder) wrapCommit(next middleware.CallFunc) middleware.CallFunc {
	return r.call(next, sqlscan.KindCommit)
}

// wrapRollback records ROLLBACK.
func (r *Recorder) wrapRollback(next middleware.CallFunc) middleware.CallFunc {
	return r.call(next, sqlscan.KindRollback)
}

func (r *Recorder) call(next middleware.CallFunc, k sqlscan.Kind) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error {
		t := r.since()
		err := next(ctx, c)
		r.ObserveOp(k, err, time.Duration(r.since()-t))
		return err
	}
}

// ObserveKind records an operation whose kind the caller already knows: op is an operation
// name such as "SELECT" or "COMMIT" (unknown names count as other).
func (r *Recorder) ObserveKind(op string, err error, d time.Duration) {
	k := sqlscan.KindOther
	for i := sqlscan.Kind(1); i < sqlscan.KindCount; i++ {
		if i.String() == op {
			k = i
			break
		}
	}
	r.ObserveOp(k, err, d)
}
