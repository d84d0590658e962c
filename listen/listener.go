package listen

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

// Listener receives notifications on one dedicated connection, read by one goroutine that
// reconnects forever. Create it with [New] or [FromConnector]; it is safe for concurrent use.
type Listener struct {
	cfg    config
	base   *pgx.ConnConfig
	before func(context.Context, *pgx.ConnConfig) error

	runCtx    context.Context // cancelled by Close: ends the reader and every connection
	stop      context.CancelFunc
	done      chan struct{}  // closed when the reader goroutine exits
	wg        sync.WaitGroup // the subscriptions' delivery goroutines
	closed    chan struct{}  // closed when Close finished everything
	closeOnce sync.Once

	mu        sync.Mutex
	started   bool
	closing   bool
	chans     map[string]*channel // every channel subscribed to or still LISTENed; changed under rmu too
	queue     []*channel          // channels whose LISTEN state may differ from what they need
	dirty     bool                // the reader must work through queue
	waiting   net.Conn            // the reader's connection while it waits for notifications
	waiters   []chan struct{}     // Unsubscribe calls waiting for UNLISTEN
	connected bool
	pid       uint32
	lastErr   error // why the last dial or connection failed
	permErr   error // the last dial failed in a way retrying cannot fix (wrong password, no database)
	nchans    int   // channels with at least one subscription
	nsubs     int   // live subscriptions

	// rmu lets the reader find a channel's subscriptions without l.mu: the reader holds it for
	// reading while it delivers a notification; the chans map and channel.subs change only
	// with both l.mu and rmu held.
	rmu sync.RWMutex

	act   activity // used by the reader goroutine only
	stats counters
}

type counters struct {
	connects, dialErrors, pings, pingFailures, received, delivered, dropped, gaps atomic.Uint64
}

// channel is the listener's state of one channel name.
type channel struct {
	name    string          // shared by every event delivered on it
	subs    []*Subscription // active subscriptions: the reader delivers to them
	pending []*Subscription // subscriptions waiting for LISTEN to be acknowledged (l.mu)
	state   chanState       // l.mu
	queued  bool            // in l.queue (l.mu)
}

type chanState uint8

const (
	chanIdle        chanState = iota // not LISTENed on the current connection
	chanListening                    // LISTEN sent, not acknowledged yet
	chanListened                     // LISTEN acknowledged on the current connection
	chanUnlistening                  // UNLISTEN sent, not acknowledged yet
)

func (c *channel) wanted() bool { return len(c.subs)+len(c.pending) > 0 }

// Stats is a snapshot of a listener's state and counters, for health checks and metrics
// adapters (the counters are monotonic: a Prometheus collector can read them on scrape).
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
	Dropped       uint64 // notifications dropped because a subscription's buffer was full
	Gaps          uint64 // gap events handed to subscribers
}

// New returns a listener for dsn (any DSN pgx accepts: URL or key=value, multi-host, TLS
// settings). It does no I/O: the connection is opened by the first Subscribe.
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
	l := &Listener{cfg: defaultConfig(), base: base, before: before, act: activity{epoch: time.Now()},
		done: make(chan struct{}), closed: make(chan struct{}), chans: map[string]*channel{}}
	for _, o := range opts {
		if o != nil {
			o(&l.cfg)
		}
	}
	l.runCtx, l.stop = context.WithCancel(context.Background())
	return l
}

// Subscribe subscribes to channel and returns once the server has acknowledged LISTEN, or at
// once when the channel is LISTENed already. The first event is a [GapInitial] gap. While the
// listener is disconnected, Subscribe waits for the reconnect, bounded by ctx; when the last
// dial failed in a way retrying cannot fix (a wrong password, a database that does not exist)
// it returns that error instead (the listener keeps dialing for the other subscriptions).
// The name is used as is: case-sensitive, never folded or truncated (see [Validate]).
func (l *Listener) Subscribe(ctx context.Context, channel string) (*Subscription, error) {
	if err := Validate(channel, ""); err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return nil, ErrListenerClosed
	}
	if l.permErr != nil && !l.connected {
		err := l.permErr
		l.mu.Unlock()
		return nil, err
	}
	if !l.started {
		l.started = true
		go l.run()
	}
	ch := l.chans[channel]
	if ch == nil {
		ch = newChannel(channel)
		l.rmu.Lock()
		l.chans[channel] = ch
		l.rmu.Unlock()
	}
	if !ch.wanted() {
		l.nchans++
	}
	l.nsubs++
	s := newSubscription(l, ch)
	if ch.state == chanListened {
		l.activateLocked(ch, s)
		l.mu.Unlock()
		return s, nil
	}
	ready := make(chan struct{})
	s.ready = ready
	ch.pending = append(ch.pending, s)
	if ch.state == chanIdle {
		l.queueLocked(ch)
	} // listening: activated with the others on the ack; unlistening: the ack queues it again
	l.mu.Unlock()

	select {
	case <-ready:
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case s.status == subActive:
		return s, nil
	case s.err != nil: // refused by the server, a permanent dial error, or Close
		return nil, s.err
	case s.status == subRemoved: // activated, then ended by Close
		return nil, ErrListenerClosed
	}
	err := ctx.Err() // still pending
	if !l.connected && l.lastErr != nil {
		err = fmt.Errorf("%w (listener not connected: %w)", err, l.lastErr)
	}
	l.removeLocked(s)
	return nil, err
}

func newChannel(name string) *channel { return &channel{name: name} }

// activateLocked makes s a live subscription of ch with a pending initial gap, and wakes its
// Subscribe. The gap is pending before the reader can deliver anything to s. l.mu is held.
func (l *Listener) activateLocked(ch *channel, s *Subscription) {
	s.status = subActive
	s.setGap(GapInitial, nil, time.Now())
	l.rmu.Lock()
	s.idx = len(ch.subs)
	ch.subs = append(ch.subs, s)
	l.rmu.Unlock()
	if s.ready != nil {
		close(s.ready)
		s.ready = nil
	}
}

// refuseLocked ends the pending subscription s with err, which its Subscribe returns. l.mu
// is held; the caller removes s from its channel's pending list.
func (l *Listener) refuseLocked(s *Subscription, err error) {
	s.status = subRemoved
	s.err = err
	s.end()
	l.nsubs--
	if s.ready != nil {
		close(s.ready)
		s.ready = nil
	}
}

// queueLocked asks the reader to bring ch's LISTEN state in line with its subscriptions.
// l.mu is held.
func (l *Listener) queueLocked(ch *channel) {
	if !ch.queued {
		ch.queued = true
		l.queue = append(l.queue, ch)
	}
	l.dirty = true
	l.interruptLocked()
}

// deleteChanLocked forgets ch. l.mu is held.
func (l *Listener) deleteChanLocked(ch *channel) {
	if l.chans[ch.name] != ch {
		return
	}
	l.rmu.Lock()
	delete(l.chans, ch.name)
	l.rmu.Unlock()
}

func (l *Listener) unsubscribe(ctx context.Context, s *Subscription) error {
	l.mu.Lock()
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

// removeLocked ends s. When s was the last subscription of a LISTENed channel, it queues the
// UNLISTEN and returns a channel closed once the UNLISTEN is done (or the connection lost).
// l.mu is held.
func (l *Listener) removeLocked(s *Subscription) chan struct{} {
	ch := s.ch
	switch s.status {
	case subRemoved:
		return nil
	case subActive:
		l.rmu.Lock()
		last := len(ch.subs) - 1
		moved := ch.subs[last]
		ch.subs[s.idx], moved.idx = moved, s.idx
		ch.subs[last] = nil
		ch.subs = ch.subs[:last]
		l.rmu.Unlock()
	case subPending:
		for i, p := range ch.pending {
			if p == s {
				ch.pending = append(ch.pending[:i], ch.pending[i+1:]...)
				break
			}
		}
	}
	s.status = subRemoved
	s.end()
	l.nsubs--
	if ch.wanted() {
		return nil
	}
	l.nchans--
	switch ch.state {
	case chanListened:
		if l.closing {
			return nil
		}
		l.queueLocked(ch)
		w := make(chan struct{})
		l.waiters = append(l.waiters, w)
		return w
	case chanIdle:
		if !ch.queued {
			l.deleteChanLocked(ch)
		}
	}
	// Listening or unlistening: the reader looks at the channel again when the round trip ends.
	return nil
}

// Close ends every subscription (closing its C), interrupts a dial, a backoff or a wait,
// closes the connection and waits for every goroutine the listener started, bounded by ctx.
// A Subscribe waiting meanwhile returns [ErrListenerClosed]. Close is idempotent; a later call
// waits again.
func (l *Listener) Close(ctx context.Context) error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closing = true
		l.rmu.Lock()
		for _, ch := range l.chans {
			for _, s := range ch.subs {
				s.status = subRemoved
				s.end()
			}
			for _, s := range ch.pending {
				l.refuseLocked(s, ErrListenerClosed)
			}
			ch.subs, ch.pending = nil, nil
		}
		l.chans = map[string]*channel{}
		l.rmu.Unlock()
		l.queue = nil
		l.nchans, l.nsubs = 0, 0
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
	st := Stats{Connected: l.connected, BackendPID: l.pid, Channels: l.nchans, Subscriptions: l.nsubs}
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
