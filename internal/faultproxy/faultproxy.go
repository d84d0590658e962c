// Package faultproxy implements a loopback TCP proxy that injects network
// faults (refused connections, black holes, latency, resets and cuts) between
// a client and a server. It is intended for tests only.
package faultproxy

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Mode selects how the proxy treats traffic.
type Mode int32

const (
	// Pass forwards traffic normally. It is the default mode.
	Pass Mode = iota
	// Refuse resets every new connection right after accepting it. Existing
	// connections are not affected.
	Refuse
	// Blackhole accepts new connections and keeps every socket open but
	// forwards nothing in either direction, for existing and new
	// connections. New connections are not dialled to the target until the
	// mode changes. Data read while black-holed is held (not dropped) and is
	// delivered once the mode goes back to Pass, like a healed partition.
	Blackhole
)

// String returns the name of the mode.
func (m Mode) String() string {
	switch m {
	case Pass:
		return "Pass"
	case Refuse:
		return "Refuse"
	case Blackhole:
		return "Blackhole"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Direction is the direction of a data flow through the proxy.
type Direction int

const (
	// ClientToServer is data read from the client and written to the target.
	ClientToServer Direction = iota
	// ServerToClient is data read from the target and written to the client.
	ServerToClient
)

// String returns the name of the direction.
func (d Direction) String() string {
	if d == ClientToServer {
		return "ClientToServer"
	}
	return "ServerToClient"
}

// Action tells the proxy what to do with one chunk of data.
type Action int

const (
	// Forward forwards the chunk unchanged.
	Forward Action = iota
	// CutBefore drops the chunk and cuts the connection.
	CutBefore
	// CutAfter forwards the chunk and then cuts the connection.
	CutAfter
	// CutMiddle forwards the first half of the chunk and then cuts the
	// connection.
	CutMiddle
)

// CutStyle selects how the proxy closes the sockets of a cut connection.
type CutStyle int

const (
	// RST closes both sockets with SO_LINGER 0, so the peers see a
	// connection reset. It is the default.
	RST CutStyle = iota
	// FIN closes both sockets normally, so the peers see an orderly EOF.
	FIN
)

// Filter decides the fate of each chunk read from either side. connID
// identifies the connection (1, 2, ... in accept order). The chunk must not
// be retained or modified after Filter returns.
type Filter func(connID int, dir Direction, chunk []byte) Action

// Stats is a snapshot of proxy counters.
type Stats struct {
	Accepted int64 // connections accepted so far
	Live     int64 // connections currently open
	Cuts     int64 // connections cut by a filter, CutAfter or random cut
	BytesC2S int64 // bytes forwarded client to server
	BytesS2C int64 // bytes forwarded server to client
}

const chunkSize = 32 << 10

type cutRule struct {
	n   int64
	dir Direction
}

// Proxy is a loopback TCP fault-injection proxy. All methods are safe for
// concurrent use.
type Proxy struct {
	target string
	ln     net.Listener
	done   chan struct{}
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	mode     Mode
	modeCh   chan struct{} // closed and replaced on every mode change
	latency  time.Duration
	filter   Filter
	cutAfter *cutRule
	style    CutStyle
	randProb float64
	rng      *rand.Rand
	conns    map[int]*conn
	nextID   int
	statCh   chan struct{} // closed and replaced on every stats change

	accepted, cuts, c2s, s2c atomic.Int64
}

// New starts a proxy listening on 127.0.0.1:0 that forwards connections to
// target (host:port).
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		target: target,
		ln:     ln,
		done:   make(chan struct{}),
		modeCh: make(chan struct{}),
		statCh: make(chan struct{}),
		conns:  make(map[int]*conn),
	}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr returns the listening address as host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Host returns the listening host (always 127.0.0.1).
func (p *Proxy) Host() string { return p.ln.Addr().(*net.TCPAddr).IP.String() }

// Port returns the listening port.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Target returns the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// SetMode switches the proxy mode. It takes effect immediately for new
// connections and, for Blackhole, for data of existing connections.
func (p *Proxy) SetMode(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == m {
		return
	}
	p.mode = m
	close(p.modeCh)
	p.modeCh = make(chan struct{})
}

// Mode returns the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// SetLatency adds d of one-way delay before each forwarded chunk, in both
// directions. Zero disables it.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = d
	p.mu.Unlock()
}

// SetFilter installs f to decide the fate of every chunk; nil forwards all.
// The filter runs on the copy goroutines and must be safe for concurrent use.
func (p *Proxy) SetFilter(f Filter) {
	p.mu.Lock()
	p.filter = f
	p.mu.Unlock()
}

// SetCutStyle selects how cut connections are closed (default RST).
func (p *Proxy) SetCutStyle(s CutStyle) {
	p.mu.Lock()
	p.style = s
	p.mu.Unlock()
}

// CutAfter makes every connection accepted from now on cut itself after
// forwarding n bytes in direction dir (the chunk crossing the boundary is
// truncated to exactly n bytes). n == 0 cuts on the first chunk in dir
// without forwarding it; n < 0 disables the rule.
func (p *Proxy) CutAfter(n int64, dir Direction) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n < 0 {
		p.cutAfter = nil
		return
	}
	p.cutAfter = &cutRule{n: n, dir: dir}
}

// SetRandomCut makes every forwarded chunk (either direction) cut its
// connection with probability prob, with the action chosen at random among
// CutBefore, CutAfter and CutMiddle. The random source is seeded with seed
// for reproducibility. prob <= 0 disables random cuts.
func (p *Proxy) SetRandomCut(prob float64, seed int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.randProb = prob
	p.rng = rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
}

// ResetAll resets every live connection on both sides (SO_LINGER 0, close).
func (p *Proxy) ResetAll() { p.closeAll(RST) }

// CloseAll closes every live connection on both sides with a normal FIN.
func (p *Proxy) CloseAll() { p.closeAll(FIN) }

func (p *Proxy) closeAll(s CutStyle) {
	p.mu.Lock()
	cs := make([]*conn, 0, len(p.conns))
	for _, c := range p.conns {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	for _, c := range cs {
		c.shutdown(s)
	}
}

// Stats returns a snapshot of the proxy counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	live := int64(len(p.conns))
	p.mu.Unlock()
	return Stats{
		Accepted: p.accepted.Load(),
		Live:     live,
		Cuts:     p.cuts.Load(),
		BytesC2S: p.c2s.Load(),
		BytesS2C: p.s2c.Load(),
	}
}

// WaitStats blocks until cond returns true for the current Stats, the
// context ends or the proxy is closed. It lets tests await connection
// events without sleeping.
func (p *Proxy) WaitStats(ctx context.Context, cond func(Stats) bool) error {
	for {
		p.mu.Lock()
		ch := p.statCh
		p.mu.Unlock()
		if cond(p.Stats()) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return errors.New("faultproxy: closed")
		}
	}
}

func (p *Proxy) notify() {
	p.mu.Lock()
	close(p.statCh)
	p.statCh = make(chan struct{})
	p.mu.Unlock()
}

// Close stops the listener, closes every connection and waits for all
// goroutines to exit. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	p.mu.Unlock()
	err := p.ln.Close()
	p.closeAll(FIN)
	p.wg.Wait()
	return err
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		nc, err := p.ln.Accept()
		if err != nil {
			select {
			case <-p.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		p.accepted.Add(1)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			nc.Close()
			return
		}
		if p.mode == Refuse {
			p.mu.Unlock()
			closeWith(nc, RST)
			p.notify()
			continue
		}
		p.nextID++
		c := &conn{p: p, id: p.nextID, client: nc, done: make(chan struct{})}
		if p.cutAfter != nil {
			r := *p.cutAfter
			c.rule = &r
		}
		p.conns[c.id] = c
		p.wg.Add(1)
		p.mu.Unlock()
		p.notify()
		go c.run()
	}
}

func closeWith(nc net.Conn, s CutStyle) {
	if nc == nil {
		return
	}
	if tc, ok := nc.(*net.TCPConn); ok && s == RST {
		_ = tc.SetLinger(0)
	}
	_ = nc.Close()
}
