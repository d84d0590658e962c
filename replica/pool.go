package replica

import (
	"context"
	"database/sql/driver"
	"sync"
	"sync/atomic"

	"github.com/pgprovider/pgprovider"
)

// pool holds the connections of one replica. Connections come from a pgprovider Connector
// without middleware: the session's chain runs around them, and the core's executor applies
// declared state and its byte accounting on them.
type pool struct {
	ctr     *pgprovider.Connector
	sem     chan struct{} // one token per open-or-opening connection in use
	mu      sync.Mutex
	idle    []driver.Conn
	maxIdle int
	closed  bool
	open    atomic.Int64
}

func newPool(ctr *pgprovider.Connector, maxOpen, maxIdle int) *pool {
	return &pool{ctr: ctr, sem: make(chan struct{}, maxOpen), maxIdle: maxIdle}
}

// get borrows a connection: an idle one that is still alive, or a new one.
func (p *pool) get(ctx context.Context) (driver.Conn, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		p.mu.Lock()
		var c driver.Conn
		if n := len(p.idle); n > 0 {
			c = p.idle[n-1]
			p.idle = p.idle[:n-1]
		}
		p.mu.Unlock()
		if c == nil {
			break
		}
		// The same check database/sql makes before reusing a connection: a non-blocking
		// liveness check, and pgx stdlib's ping when the connection sat idle over a second.
		if err := c.(driver.SessionResetter).ResetSession(ctx); err == nil {
			return c, nil
		}
		p.discard(c)
	}
	c, err := p.ctr.Connect(ctx)
	if err != nil {
		<-p.sem
		return nil, err
	}
	p.open.Add(1)
	return c, nil
}

// put returns a connection; one that broke or is left inside a transaction is closed.
func (p *pool) put(c driver.Conn) {
	defer func() { <-p.sem }()
	if v, ok := c.(driver.Validator); ok && !v.IsValid() {
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

func (p *pool) discard(c driver.Conn) {
	p.open.Add(-1)
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

func (t *nodeTarget) Acquire(ctx context.Context) (driver.Conn, error) {
	c, err := t.n.pool.get(ctx)
	if err != nil {
		return nil, err
	}
	t.n.inFlight.Add(1)
	return c, nil
}

func (t *nodeTarget) Release(c driver.Conn, err error) {
	t.n.inFlight.Add(-1)
	t.n.pool.put(c)
	if err != nil && connectionError(err) {
		t.r.suspect(t.n)
	}
}

// attempt is the routing target of one statement with a per-attempt timeout: it also
// releases the timeout's context when the statement ends.
type attempt struct {
	nodeTarget
	cancel context.CancelFunc
}

func (a *attempt) Release(c driver.Conn, err error) {
	a.nodeTarget.Release(c, err)
	a.cancel()
}
