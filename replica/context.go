package replica

import (
	"context"
	"sync/atomic"
	"time"
)

type ctxKey struct{}

// intent is what a context asks of routing. Each With function copies it, so contexts never
// share a mutable intent.
type intent struct {
	replica   bool
	primary   bool
	maxLag    time.Duration
	maxBytes  uint64
	token     *token
	servedBy  *string
	hasMaxLag bool
}

func intentOf(ctx context.Context) *intent {
	in, _ := ctx.Value(ctxKey{}).(*intent)
	return in
}

func with(ctx context.Context, f func(*intent)) context.Context {
	var in intent
	if old := intentOf(ctx); old != nil {
		in = *old
	}
	f(&in)
	return context.WithValue(ctx, ctxKey{}, &in)
}

// UseReplica marks ctx so that autocommit statements run with it go to a replica when one is
// eligible. Use it for reads only: a write sent to a replica fails with SQLSTATE 25006.
func UseReplica(ctx context.Context) context.Context {
	return with(ctx, func(in *intent) { in.replica, in.primary = true, false })
}

// UsePrimary marks ctx so that statements run with it go to the primary, overriding an
// earlier UseReplica.
func UsePrimary(ctx context.Context) context.Context {
	return with(ctx, func(in *intent) { in.replica, in.primary = false, true })
}

// MaxStaleness bounds the replication lag of the replica a read with ctx may use, in time.
// It overrides the Router's [WithMaxLag] for this context. The bound holds as of the last
// probe: the data a read sees can be older by up to one probe interval plus the probe timeout.
func MaxStaleness(ctx context.Context, d time.Duration) context.Context {
	return with(ctx, func(in *intent) { in.maxLag, in.hasMaxLag = d, true })
}

// MaxStalenessBytes bounds the replication lag, in bytes of WAL, of the replica a read with
// ctx may use. It overrides the Router's [WithMaxLagBytes] for this context.
func MaxStalenessBytes(ctx context.Context, n uint64) context.Context {
	return with(ctx, func(in *intent) { in.maxBytes = n })
}

// WithServedBy asks the Router to store in *node the name (host:port) of the node that ran
// each statement with ctx: a replica, or the node the monitor knows as primary for statements
// that ran on the session's backend. The write happens before the statement call returns;
// do not share ctx between goroutines that run statements at the same time.
func WithServedBy(ctx context.Context, node *string) context.Context {
	return with(ctx, func(in *intent) { in.servedBy = node })
}

// WithSession returns ctx carrying a new read-your-writes token. Writes run with the
// returned context (or one derived from it) make later reads with it see them: see
// [WithStickyWindow] and [WithStrictReadYourWrites]. Pass the context to BeginTx too, so that
// the commit is recorded. A token may be shared by the goroutines of one logical session.
func WithSession(ctx context.Context) context.Context {
	t := new(token)
	return with(ctx, func(in *intent) { in.token = t })
}

// token records the writes of one logical session (a user, a request chain) for
// read-your-writes. Its zero value is a session with no write yet.
type token struct {
	pending   atomic.Int32 // writes or transactions under way
	lastWrite atomic.Int64 // unix nanoseconds when the last write ended, 0 if none
}

func (t *token) begin() { t.pending.Add(1) }

func (t *token) end() {
	t.lastWrite.Store(time.Now().UnixNano())
	t.pending.Add(-1)
}

func (in *intent) setServed(name string) {
	if in != nil && in.servedBy != nil {
		*in.servedBy = name
	}
}
