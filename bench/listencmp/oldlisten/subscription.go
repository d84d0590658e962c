package oldlisten

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Subscription is one subscriber's view of a channel. Its events arrive on C. Each
// subscription has its own bounded buffer and its own delivery goroutine, so a slow
// subscription never delays the listener or the other subscriptions.
type Subscription struct {
	l       *Listener
	channel string
	cfg     subConfig
	out     chan Event
	ready   chan struct{} // closed once LISTEN is acknowledged for this subscription
	ctx     context.Context
	cancel  context.CancelFunc // ends the subscription
	exited  chan struct{}      // closed when the delivery goroutine and any handler have exited

	// guarded by l.mu
	active  bool
	removed bool
	err     error // why a pending subscription was refused

	sig chan struct{} // wakes the delivery goroutine; capacity 1

	mu      sync.Mutex // guards the buffer, the pending gap and the delivery state
	buf     []Notification
	ringCap int
	head    int
	n       int
	gap     *Gap
	busy    bool // the delivery goroutine holds an event it has not handed over yet
	ended   bool // C is closed or about to be
	tailGap *Gap // the last event put into C, while it is a gap (it may still be waiting there)
}

// maxChanBuffer caps the part of a subscription's buffer that is C's own buffer. The reader
// puts events into C directly while nothing waits before them; the delivery goroutine only
// moves what overflowed into the ring (beyond this many) and gaps.
const maxChanBuffer = 1024

func newSubscription(l *Listener, channel string, cfg subConfig) *Subscription {
	// Under DropNewest, half of the buffer's n places, up to maxChanBuffer, are C's own; the
	// ring keeps the rest for when events cannot go into C directly (a gap is pending, or the
	// delivery goroutine is handing one over). DropOldest
	// keeps all n in the ring, where the oldest can be dropped; its C is unbuffered.
	inChan := 0
	if cfg.overflow != DropOldest {
		inChan = min(maxChanBuffer, cfg.bufferSize/2)
	}
	s := &Subscription{l: l, channel: channel, cfg: cfg, out: make(chan Event, inChan),
		ringCap: cfg.bufferSize - inChan, ready: make(chan struct{}), exited: make(chan struct{}),
		sig: make(chan struct{}, 1)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// C returns the channel of events. It is closed when the subscription ends (Unsubscribe,
// Close, or a LISTEN the server refused); events still buffered in it can be received first.
// A gap that is still waiting alone in C absorbs later losses, so a subscriber that has not
// read it yet gets one gap for them, not several.
func (s *Subscription) C() <-chan Event { return s.out }

// Channel returns the channel name.
func (s *Subscription) Channel() string { return s.channel }

// Done returns a channel closed once the subscription has ended and its goroutines (the
// delivery goroutine and a [SubscribeFunc] handler) have exited.
func (s *Subscription) Done() <-chan struct{} { return s.exited }

// Unsubscribe ends the subscription and closes C. When it was the channel's last
// subscription it waits (bounded by ctx) until UNLISTEN was acknowledged or the connection was
// lost. It is idempotent and safe to call from a handler.
func (s *Subscription) Unsubscribe(ctx context.Context) error { return s.l.unsubscribe(ctx, s) }

// activateLocked marks the subscription live with a pending initial gap. l.mu is held; the
// caller publishes the listener's routes afterwards, so that the gap is pending before the
// reader can deliver anything.
func (s *Subscription) activateLocked() {
	s.active = true
	s.setGap(GapInitial, 0, nil, time.Now())
	close(s.ready)
}

func (s *Subscription) signal() {
	select {
	case s.sig <- struct{}{}:
	default:
	}
}

// setGap sets or merges the pending gap. It never blocks.
func (s *Subscription) setGap(reason GapReason, dropped int, err error, since time.Time) {
	s.mu.Lock()
	if s.gap == nil {
		s.gap = &Gap{Reason: reason, Dropped: dropped, Err: err, Since: since}
	} else {
		s.gap.Dropped += dropped
		if s.gap.Err == nil {
			s.gap.Err = err
		}
	}
	s.mu.Unlock()
	s.signal()
}

// push hands n over without blocking. When nothing is queued before it and C has room, the
// reader puts it into C directly; otherwise it is buffered for the delivery goroutine. It
// reports whether a notification was dropped.
func (s *Subscription) push(n Notification) bool {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return false
	}
	if !s.busy && s.n == 0 && s.gap == nil {
		select {
		case s.out <- Event{Kind: EventNotification, Notification: n}:
			s.tailGap = nil
			s.mu.Unlock()
			s.l.stats.delivered.Add(1)
			return false
		default:
		}
	}
	if s.buf == nil {
		s.buf = make([]Notification, s.ringCap)
	}
	dropped := false
	if s.n == len(s.buf) {
		dropped = true
		if s.gap == nil {
			s.gap = &Gap{Reason: GapOverflow, Since: time.Now()}
		}
		s.gap.Dropped++
		if s.cfg.overflow == DropOldest {
			s.buf[s.head] = n
			s.head = (s.head + 1) % len(s.buf)
		}
	} else {
		s.buf[(s.head+s.n)%len(s.buf)] = n
		s.n++
	}
	// A busy delivery goroutine looks at the buffer again after its hand-over; it needs a
	// signal only to merge a new gap into the one it holds.
	wake := !s.busy || dropped
	s.mu.Unlock()
	if wake {
		s.signal()
	}
	return dropped
}

// next records what the delivery goroutine last put into C (sent), then takes the pending
// gap first (it supersedes what is buffered), then the oldest notification. It marks the
// delivery goroutine busy until it comes back for more. retaken reports a gap that was
// already counted as delivered (taken back from C to absorb the new losses).
func (s *Subscription) next(sent Event) (ev Event, retaken, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sent.Kind == EventGap {
		s.tailGap = sent.Gap
	} else if sent.Kind == EventNotification {
		s.tailGap = nil
	}
	if g := s.gap; g != nil {
		s.gap = nil
		s.busy = true
		g, retaken = s.absorbLocked(g)
		return Event{Kind: EventGap, Gap: g}, retaken, true
	}
	if s.n == 0 {
		s.busy = false
		return Event{}, false, false
	}
	n := s.buf[s.head]
	s.buf[s.head] = Notification{}
	s.head = (s.head + 1) % len(s.buf)
	s.n--
	s.busy = true
	return Event{Kind: EventNotification, Notification: n}, false, true
}

// absorbLocked merges g into the gap still waiting in C when that gap is all C holds, so
// that a subscriber that has not read it yet sees one gap, not two in a row. s.mu is held,
// so nothing is added to C meanwhile; when the subscriber takes the gap first, g stays a gap
// of its own. A gap with notifications before it in C is left alone: taking those back could
// hand the subscriber events out of order.
func (s *Subscription) absorbLocked(g *Gap) (*Gap, bool) {
	tail := s.tailGap
	s.tailGap = nil
	if tail == nil || len(s.out) != 1 {
		return g, false
	}
	select {
	case e := <-s.out:
		if e.Kind == EventGap && e.Gap == tail {
			mergeGap(tail, g)
			return tail, true
		}
		// Unreachable: C held one event, the last one put in, which was tail.
		return g, false
	default:
		return g, false // the subscriber took it
	}
}

// mergeGap adds the losses of later to g, which keeps its reason and start.
func mergeGap(g, later *Gap) {
	g.Dropped += later.Dropped
	if g.Err == nil {
		g.Err = later.Err
	}
}

// run is the delivery goroutine: it moves events from the buffer to C.
func (s *Subscription) run(handler bool) {
	defer func() {
		s.mu.Lock()
		s.ended = true // the reader no longer hands events over
		s.mu.Unlock()
		close(s.out)
		if !handler {
			close(s.exited)
		}
		s.l.wg.Done()
	}()
	done := s.ctx.Done()
	var sent Event
	for {
		ev, retaken, ok := s.next(sent)
		sent = Event{}
		if !ok {
			select {
			case <-s.sig:
				continue
			case <-done:
				return
			}
		}
		if !s.send(&ev, retaken, done) {
			return
		}
		sent = ev
	}
}

// send puts ev into C. A gap waiting to get in absorbs the losses that happen meanwhile.
// retaken: ev was counted in Stats when it first went into C.
func (s *Subscription) send(ev *Event, retaken bool, done <-chan struct{}) bool {
	select { // the common case, when C has room: no select over three channels
	case s.out <- *ev:
		s.count(ev, retaken)
		return true
	default:
	}
	for {
		select {
		case s.out <- *ev:
			s.count(ev, retaken)
			return true
		case <-s.sig:
			if ev.Kind != EventGap {
				continue
			}
			s.mu.Lock()
			if g := s.gap; g != nil {
				s.gap = nil
				mergeGap(ev.Gap, g)
			}
			s.mu.Unlock()
		case <-done:
			return false
		}
	}
}

func (s *Subscription) count(ev *Event, retaken bool) {
	if retaken {
		return
	}
	s.l.stats.delivered.Add(1)
	if ev.Kind == EventGap {
		s.l.stats.gaps.Add(1)
	}
}

// PanicError is what a [SubscribeFunc] handler's panic is reported as.
type PanicError struct {
	Value any
}

// Error implements error.
func (e *PanicError) Error() string { return fmt.Sprintf("listen: handler panic: %v", e.Value) }

// SubscribeFunc subscribes to channel and runs fn for every event on its own goroutine, one
// event at a time, until the subscription ends. fn's context is cancelled when the
// subscription ends. Errors returned by fn and panics (as *[PanicError]) are recovered and
// passed to the [WithErrorHandler] callback; the subscription continues. The first event is
// the initial gap: load your state there.
func SubscribeFunc(ctx context.Context, l *Listener, channel string, fn func(context.Context, Event) error, opts ...SubOption) (*Subscription, error) {
	s, err := l.subscribe(ctx, channel, true, opts)
	if err != nil {
		return nil, err
	}
	go func() {
		defer func() {
			close(s.exited)
			l.wg.Done()
		}()
		for ev := range s.out {
			if s.ctx.Err() != nil {
				break // ended: what is still queued in C is not handed to fn
			}
			if err := call(s.ctx, fn, ev); err != nil && l.cfg.errorHook != nil {
				l.cfg.errorHook(channel, err)
			}
		}
	}()
	return s, nil
}

func call(ctx context.Context, fn func(context.Context, Event) error, ev Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r}
		}
	}()
	return fn(ctx, ev)
}
