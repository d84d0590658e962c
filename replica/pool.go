package replica

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
)

// pool holds the backends of one replica, opened by a pgprovider Connector without middleware:
// the session's chain runs around the statements, and the executor applies declared state and
// its byte accounting on the backends.
type pool struct {
	ctr     *pgprovider.Connector
	sem     chan struct{} // one token per open-or-opening backend in use
	mu      sync.Mutex
	idle    []middleware.Backend
	nets    map[middleware.Backend]net.Conn // each backend's socket, for per-attempt deadlines
	maxIdle int
	closed  bool
	open    atomic.Int64
}

func newPool(ctr *pgprovider.Connector, maxOpen, maxIdle int) *pool {
	return &pool{ctr: ctr, sem: make(chan struct{}, maxOpen), maxIdle: maxIdle, nets: map[middleware.Backend]net.Conn{}}
}

// dialSlot receives the socket a connection was dialed on (see dialCapture).
type dialSlot struct{ nc net.Conn }

type dialSlotKey struct{}

// dialCapture wraps a pgx dial function so that the pool learns each connection's socket:
// a per-attempt timeout is a deadline on it, which costs no context, timer or watch per
// statement. The last successful dial of a Connect is the connection's (fallback hosts and
// TLS retries dial again).
func dialCapture(dial pgconn.DialFunc) pgconn.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err == nil {
			if s, ok := ctx.Value(dialSlotKey{}).(*dialSlot); ok {
				s.nc = nc
			}
		}
		return nc, err
	}
}

// expired returns the reason a borrow must not start or go on: ctx is done, or the
// attempt's deadline has passed.
func expired(ctx context.Context, deadline time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// withDeadline bounds ctx by deadline, when there is one.
func withDeadline(ctx context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	if deadline.IsZero() {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, deadline)
}

// get borrows a connection: an idle one that is still alive, or a new one. With a deadline,
// the connection's socket carries it (from the liveness check on) until the caller clears it,
// and waiting for a free slot or dialing is bounded by it.
func (p *pool) get(ctx context.Context, deadline time.Time) (middleware.Backend, net.Conn, error) {
	if err := expired(ctx, deadline); err != nil {
		return nil, nil, err // never take a connection out only to fail it
	}
	select {
	case p.sem <- struct{}{}:
	default:
		wctx, cancel := withDeadline(ctx, deadline)
		select {
		case p.sem <- struct{}{}:
			cancel()
		case <-wctx.Done():
			cancel()
			return nil, nil, wctx.Err()
		}
	}
	for {
		p.mu.Lock()
		var c middleware.Backend
		var nc net.Conn
		if n := len(p.idle); n > 0 {
			c = p.idle[n-1]
			p.idle = p.idle[:n-1]
			if !deadline.IsZero() {
				nc = p.nets[c]
			}
		}
		p.mu.Unlock()
		if c == nil {
			break
		}
		if nc != nil {
			_ = nc.SetDeadline(deadline)
		}
		// The same check database/sql makes before reusing a connection: a non-blocking
		// liveness check, and pgx stdlib's ping when the connection sat idle over a second.
		err := c.Reset(ctx)
		if err == nil {
			return c, nc, nil
		}
		if c.Err() == nil && expired(ctx, deadline) != nil {
			// The budget ran out, the connection did not fail: keep it for the next reader.
			if nc != nil {
				_ = nc.SetDeadline(time.Time{})
			}
			p.put(c)
			return nil, nil, expired(ctx, deadline)
		}
		p.discard(c)
		if err := expired(ctx, deadline); err != nil {
			<-p.sem
			return nil, nil, err
		}
	}
	dctx, cancel := withDeadline(ctx, deadline)
	defer cancel()
	slot := &dialSlot{}
	c, err := p.ctr.OpenBackend(context.WithValue(dctx, dialSlotKey{}, slot))
	if err != nil {
		<-p.sem
		return nil, nil, err
	}
	p.open.Add(1)
	if slot.nc == nil {
		return c, nil, nil
	}
	p.mu.Lock()
	p.nets[c] = slot.nc
	p.mu.Unlock()
	if deadline.IsZero() {
		return c, nil, nil
	}
	_ = slot.nc.SetDeadline(deadline)
	return c, slot.nc, nil
}

// put returns a backend; one that broke, is left inside a transaction, or whose session state
// a statement changed (it pinned itself) is closed.
func (p *pool) put(c middleware.Backend) {
	defer func() { <-p.sem }()
	if c.Err() != nil || c.Pinned() {
		p.discard(c)
		return
	}
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.maxIdle {
		p.mu.Unlock()
		p.discard(c)
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

func (p *pool) discard(c middleware.Backend) {
	p.open.Add(-1)
	p.mu.Lock()
	delete(p.nets, c)
	p.mu.Unlock()
	_ = c.Close()
}

// flush closes the idle connections (the node went down).
func (p *pool) flush() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		p.discard(c)
	}
}

func (p *pool) close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.flush()
	return p.ctr.Close()
}

// nodeTarget is the routing target of a statement on one replica when no per-attempt
// timeout is configured: it counts the statement in flight and reports connection errors to
// the monitor, and costs no allocation.
type nodeTarget struct {
	r *Router
	n *node
}

func (t *nodeTarget) Acquire(ctx context.Context) (middleware.Backend, error) {
	c, _, err := t.n.pool.get(ctx, time.Time{})
	if err != nil {
		return nil, err
	}
	t.n.inFlight.Add(1)
	return c, nil
}

func (t *nodeTarget) Release(c middleware.Backend, err error) {
	t.n.inFlight.Add(-1)
	t.n.pool.put(c)
	if err != nil && pgerror.Classify(err).Connection() {
		t.r.suspect(t.n)
	}
}

// attempt is the routing target of one statement with a per-attempt timeout: the deadline
// sits on the borrowed connection's socket from the borrow until the result set closes, so a
// replica that stops answering fails the attempt (and its connection) in time.
type attempt struct {
	nodeTarget
	deadline time.Time
	nc       net.Conn
}

func (a *attempt) Acquire(ctx context.Context) (middleware.Backend, error) {
	c, nc, err := a.n.pool.get(ctx, a.deadline)
	if err != nil {
		return nil, err
	}
	a.nc = nc
	a.n.inFlight.Add(1)
	return c, nil
}

func (a *attempt) Release(c middleware.Backend, err error) {
	if a.nc != nil {
		_ = a.nc.SetDeadline(time.Time{})
	}
	a.nodeTarget.Release(c, err)
}

// expired reports whether the attempt's deadline has passed.
func (a *attempt) expired() bool { return !time.Now().Before(a.deadline) }
