package faultproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// conn is one proxied connection.
type conn struct {
	p      *Proxy
	id     int
	client net.Conn
	rule   *cutRule // snapshot of the CutAfter rule at accept time

	mu     sync.Mutex
	server net.Conn
	done   chan struct{}
	closed bool

	fwd [2]int64 // bytes forwarded per direction (each touched by one goroutine)

	// cutting is set before the last chunk of a cut (CutAfter, CutMiddle) is written: from
	// then on the other direction forwards nothing, so that an answer the server sends to
	// that chunk never slips through before the cut closes the connection.
	cutting atomic.Bool
}

// shutdown closes both sides with style s. It is idempotent.
func (c *conn) shutdown(s CutStyle) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	close(c.done)
	srv := c.server
	c.mu.Unlock()
	closeWith(c.client, s)
	closeWith(srv, s)
}

func (c *conn) cut() {
	c.p.mu.Lock()
	s := c.p.style
	c.p.mu.Unlock()
	c.mu.Lock()
	already := c.closed
	c.mu.Unlock()
	if !already {
		c.p.cuts.Add(1)
	}
	c.shutdown(s)
}

func (c *conn) run() {
	p := c.p
	defer p.wg.Done()
	defer func() {
		c.shutdown(FIN)
		p.mu.Lock()
		delete(p.conns, c.id)
		p.mu.Unlock()
		p.notify()
	}()
	if !c.waitNotBlackholed() {
		return
	}
	if p.Mode() == Refuse {
		c.shutdown(RST)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	var dw sync.WaitGroup
	dw.Add(1)
	go func() {
		defer dw.Done()
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	var d net.Dialer
	srv, err := d.DialContext(ctx, "tcp", p.target)
	cancel()
	dw.Wait()
	if err != nil {
		c.shutdown(RST)
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		srv.Close()
		return
	}
	c.server = srv
	c.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.pipe(c.client, srv, ClientToServer) }()
	go func() { defer wg.Done(); c.pipe(srv, c.client, ServerToClient) }()
	wg.Wait()
}

// waitNotBlackholed blocks while the proxy is in Blackhole mode. It returns
// false if the connection or the proxy was closed meanwhile.
func (c *conn) waitNotBlackholed() bool {
	for {
		c.p.mu.Lock()
		m, ch := c.p.mode, c.p.modeCh
		c.p.mu.Unlock()
		if m != Blackhole {
			return true
		}
		select {
		case <-ch:
		case <-c.done:
			return false
		case <-c.p.done:
			return false
		}
	}
}

func (c *conn) pipe(src, dst net.Conn, dir Direction) {
	buf := make([]byte, chunkSize)
	for {
		n, err := src.Read(buf)
		if n > 0 && !c.forward(dst, dir, buf[:n]) {
			return
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				// Propagate the half-close; the connection is torn
				// down once both directions are done.
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
					return
				}
			}
			c.shutdown(FIN)
			return
		}
	}
}

// forward applies faults to one chunk and writes what survives to dst. It
// returns false when the connection is gone.
func (c *conn) forward(dst net.Conn, dir Direction, chunk []byte) bool {
	if !c.waitNotBlackholed() {
		return false
	}
	p := c.p
	p.mu.Lock()
	lat, filter := p.latency, p.filter
	var rnd bool
	var rndAction Action
	if p.randProb > 0 && p.rng != nil && p.rng.Float64() < p.randProb {
		rnd = true
		rndAction = Action(1 + p.rng.IntN(3))
	}
	p.mu.Unlock()

	if lat > 0 {
		t := time.NewTimer(lat)
		select {
		case <-t.C:
		case <-c.done:
			t.Stop()
			return false
		}
	}

	act := Forward
	if filter != nil {
		act = filter(c.id, dir, chunk)
	}
	if act == Forward && c.rule != nil && c.rule.dir == dir {
		left := c.rule.n - c.fwd[dir]
		if left <= 0 {
			act = CutBefore
		} else if int64(len(chunk)) >= left {
			chunk = chunk[:left]
			act = CutAfter
		}
	}
	if act == Forward && rnd {
		act = rndAction
	}

	switch act {
	case CutBefore:
		c.cut()
		return false
	case CutMiddle:
		chunk = chunk[:len(chunk)/2]
	}
	if act != Forward {
		c.cutting.Store(true)
	} else if c.cutting.Load() {
		return false // the other direction is cutting the connection
	}
	if len(chunk) > 0 {
		n, err := dst.Write(chunk)
		c.fwd[dir] += int64(n)
		if dir == ClientToServer {
			p.c2s.Add(int64(n))
		} else {
			p.s2c.Add(int64(n))
		}
		p.notify()
		if err != nil {
			c.shutdown(FIN)
			return false
		}
	}
	if act != Forward {
		c.cut()
		return false
	}
	return true
}
