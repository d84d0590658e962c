package oldlisten

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider"
)

// Listener receives notifications on one dedicated connection, with one reader goroutine
// that reconnects forever. Create it with [New] or [FromConnector]; it is safe for
// concurrent use.
type Listener struct {
	cfg    config
	base   *pgx.ConnConfig
	before func(context.Context, *pgx.ConnConfig) error

	runCtx context.Context
	stop   context.CancelFunc
	done   chan struct{} // closed when the reader goroutine exits
	wg     sync.WaitGroup
	closed chan struct{} // closed when Close finished everything

	mu        sync.Mutex
	started   bool
	closing   bool
	chans     map[string]map[*Subscription]struct{}
	active    map[string]bool // channels LISTENed on the current connection
	dirty     bool            // the reader must reconcile chans with active
	waiting   net.Conn        // the reader's connection while it waits for notifications
	cur       net.Conn        // the reader's connection while it is up: Close interrupts it
	waiters   []chan struct{} // Unsubscribe calls waiting for UNLISTEN
	connected bool
	pid       uint32
	lastErr   error // why the last dial or connection failed
	closeOnce sync.Once

	// routes is what the reader delivers to: the active subscriptions per channel, rebuilt
	// under mu on every change, so a notification takes no listener lock.
	routes atomic.Pointer[map[string]*route]

	act   activity // used by the reader goroutine only
	stats counters
}

type counters struct {
	connects, dialErrors, pings, pingFailures, received, delivered, dropped, gaps atomic.Uint64
}

// Stats is a snapshot of a listener's state and counters, for health checks and metrics
// adapters (a Prometheus collector reads it on scrape: the counters are monotonic).
type Stats struct {
	Connected     bool   // a connection is up and every channel is LISTENed on it
	BackendPID    uint32 // the server process id of the current connection (set before its LISTENs), 0 when down
	Channels      int    // channels with at least one subscription
	Subscriptions int    // live subscriptions
	Connects      uint64 // successful connections, the first included
	Reconnects    uint64 // successful connections after the first
	DialErrors    uint64 // failed connection attempts
	Pings         uint64 // idle pings sent
	PingFailures  uint64 // idle pings that failed or timed out
	Received      uint64 // notifications received from the server
	Delivered     uint64 // events (notifications and gaps) handed to subscribers
	Dropped       uint64 // notifications dropped by overflow policies
	Gaps          uint64 // gap events handed to subscribers
}

// New returns a listener for dsn (any DSN pgx accepts). It does no I/O: the connection is
// opened by the first Subscribe.
func New(dsn string, opts ...Option) (*Listener, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	return newListener(cfg, nil, opts), nil
}

// FromConnector returns a listener that connects with c's configuration, so its
// before-connect hook (credentials), TLS and runtime parameters apply. It does no I/O.
func FromConnector(c *pgprovider.Connector, opts ...Option) (*Listener, error) {
	cfg := c.ConnConfig()
	if cfg == nil {
		return nil, errors.New("listen: connector has no pgx configuration (custom backend)")
	}
	return newListener(cfg, c.BeforeConnect(), opts), nil
}

func newListener(base *pgx.ConnConfig, before func(context.Context, *pgx.ConnConfig) error, opts []Option) *Listener {
	l := &Listener{cfg: defaultConfig(), base: base, before: before, act: activity{epoch: time.Now()}, done: make(chan struct{}),
		closed: make(chan struct{}), chans: map[string]map[*Subscription]struct{}{}, active: map[string]bool{}}
	for _, o := range opts {
		if o != nil {
			o(&l.cfg)
		}
	}
	l.runCtx, l.stop = context.WithCancel(context.Background())
	context.AfterFunc(l.runCtx, func() { // Close interrupts whatever the reader waits for
		l.mu.Lock()
		if l.cur != nil {
			_ = l.cur.SetDeadline(time.Unix(1, 0))
		}
		l.mu.Unlock()
	})
	return l
}

// Subscribe subscribes to channel and returns once the server has acknowledged LISTEN (or
// immediately, when the channel is already LISTENed). The first event is a [GapInitial] gap.
// While the listener is disconnected, Subscribe waits for the reconnect, bounded by ctx.
func (l *Listener) Subscribe(ctx context.Context, channel string, opts ...SubOption) (*Subscription, error) {
	return l.subscribe(ctx, channel, false, opts)
}

func (l *Listener) subscribe(ctx context.Context, channel string, handler bool, opts []SubOption) (*Subscription, error) {
	if err := ValidateChannel(channel); err != nil {
		return nil, err
	}
	sc := subConfig{bufferSize: l.cfg.bufferSize, overflow: l.cfg.overflow}
	for _, o := range opts {
		if o != nil {
			o(&sc)
		}
	}
	s := newSubscription(l, channel, sc)
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return nil, ErrListenerClosed
	}
	if !l.started {
		l.started = true
		go l.run()
	}
	subs := l.chans[channel]
	if subs == nil {
		subs = map[*Subscription]struct{}{}
		l.chans[channel] = subs
	}
	subs[s] = struct{}{}
	l.wg.Add(1)
	if handler {
		l.wg.Add(1)
	}
	go s.run(handler)
	if l.active[channel] {
		s.activateLocked()
		l.rebuildRoutesLocked()
	} else {
		l.wakeLocked()
	}
	l.mu.Unlock()

	select {
	case <-s.ready:
		return s, nil
	case <-s.ctx.Done():
	case <-ctx.Done():
	}
	select {
	case <-s.ready:
		return s, nil
	default:
	}
	l.mu.Lock()
	err := s.err
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
		if !l.connected && l.lastErr != nil {
			err = fmt.Errorf("%w (listener not connected: %w)", err, l.lastErr)
		}
	}
	l.mu.Unlock()
	if err == nil {
		err = ErrListenerClosed
	}
	_ = l.unsubscribe(context.Background(), s)
	if handler {
		l.wg.Done() // the handler goroutine will not start
		close(s.exited)
	}
	return nil, err
}

// wakeLocked asks the reader to reconcile the LISTENed channels. l.mu is held.
func (l *Listener) wakeLocked() {
	l.dirty = true
	l.interruptLocked()
}

func (l *Listener) unsubscribe(ctx context.Context, s *Subscription) error {
	l.mu.Lock()
	if s.removed {
		l.mu.Unlock()
		return nil
	}
	w := l.removeLocked(s)
	l.mu.Unlock()
	if w == nil {
		return nil
	}
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// removeLocked ends s and, when it was its channel's last subscription on a LISTENed
// channel, returns a channel closed once UNLISTEN is done. l.mu is held.
func (l *Listener) removeLocked(s *Subscription) chan struct{} {
	s.removed = true
	s.cancel()
	subs := l.chans[s.channel]
	delete(subs, s)
	if s.active {
		l.rebuildRoutesLocked()
	}
	if len(subs) > 0 {
		return nil
	}
	delete(l.chans, s.channel)
	if !l.active[s.channel] || l.closing {
		return nil
	}
	w := make(chan struct{})
	l.waiters = append(l.waiters, w)
	l.wakeLocked()
	return w
}

// Close ends every subscription, interrupts a dial, a backoff or a wait, closes the
// connection and waits for every goroutine the listener started, bounded by ctx. It is
// idempotent; a later call waits again.
func (l *Listener) Close(ctx context.Context) error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closing = true
		for _, subs := range l.chans {
			for s := range subs {
				s.removed = true
				s.cancel()
			}
		}
		l.chans = map[string]map[*Subscription]struct{}{}
		l.rebuildRoutesLocked()
		l.releaseWaitersLocked()
		started := l.started
		l.mu.Unlock()
		l.stop()
		go func() {
			if started {
				<-l.done
			}
			l.wg.Wait()
			close(l.closed)
		}()
	})
	select {
	case <-l.closed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Listener) releaseWaitersLocked() {
	for _, w := range l.waiters {
		close(w)
	}
	l.waiters = nil
}

// Stats returns a snapshot of the listener's state and counters.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	st := Stats{Connected: l.connected, BackendPID: l.pid, Channels: len(l.chans)}
	for _, subs := range l.chans {
		st.Subscriptions += len(subs)
	}
	l.mu.Unlock()
	st.Connects = l.stats.connects.Load()
	if st.Connects > 0 {
		st.Reconnects = st.Connects - 1
	}
	st.DialErrors = l.stats.dialErrors.Load()
	st.Pings = l.stats.pings.Load()
	st.PingFailures = l.stats.pingFailures.Load()
	st.Received = l.stats.received.Load()
	st.Delivered = l.stats.delivered.Load()
	st.Dropped = l.stats.dropped.Load()
	st.Gaps = l.stats.gaps.Load()
	return st
}

func (l *Listener) state(s State) {
	if l.cfg.stateHook != nil {
		l.cfg.stateHook(s)
	}
}

// route is where the reader delivers a channel's notifications.
type route struct {
	channel string // the name, shared by every notification (no allocation per message)
	subs    []*Subscription
}

// rebuildRoutesLocked publishes the active subscriptions per channel for the reader. l.mu
// is held.
func (l *Listener) rebuildRoutesLocked() {
	r := make(map[string]*route, len(l.chans))
	for name, subs := range l.chans {
		var list []*Subscription
		for s := range subs {
			if s.active && !s.removed {
				list = append(list, s)
			}
		}
		if len(list) > 0 {
			r[name] = &route{channel: name, subs: list}
		}
	}
	l.routes.Store(&r)
}

// deliver hands a NotificationResponse body to the channel's subscriptions. It runs on the
// reader goroutine, never blocks and takes no listener lock.
func (l *Listener) deliver(body []byte) {
	l.stats.received.Add(1) // also the reader's activity signal: no clock read per message
	pid, channel, payload, ok := parseNotification(body)
	if !ok {
		return
	}
	r := l.routes.Load()
	if r == nil {
		return
	}
	rt := (*r)[string(channel)] // no allocation for the lookup
	if rt == nil {
		return
	}
	msg := Notification{Channel: rt.channel, Payload: string(payload), PID: pid}
	for _, s := range rt.subs {
		if s.push(msg) {
			l.stats.dropped.Add(1)
		}
	}
}
