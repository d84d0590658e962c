package listen

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

	mu   sync.Mutex // guards the buffer and the pending gap
	buf  []Notification
	head int
	n    int
	gap  *Gap
}

func newSubscription(l *Listener, channel string, cfg subConfig) *Subscription {
	s := &Subscription{l: l, channel: channel, cfg: cfg, out: make(chan Event),
		ready: make(chan struct{}), exited: make(chan struct{}), sig: make(chan struct{}, 1)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// C returns the channel of events. It is closed when the subscription ends (Unsubscribe,
// Close, or a LISTEN the server refused).
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

// activateLocked marks the subscription live with a pending initial gap. l.mu is held.
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

// push buffers n without blocking. It reports whether a notification was dropped.
func (s *Subscription) push(n Notification) bool {
	s.mu.Lock()
	if s.buf == nil {
		s.buf = make([]Notification, s.cfg.bufferSize)
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
	s.mu.Unlock()
	s.signal()
	return dropped
}

// next takes the pending gap first (it supersedes what is buffered), then the oldest
// notification.
func (s *Subscription) next() (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.gap; g != nil {
		s.gap = nil
		return Event{Kind: EventGap, Gap: g}, true
	}
	if s.n == 0 {
		return Event{}, false
	}
	n := s.buf[s.head]
	s.buf[s.head] = Notification{}
	s.head = (s.head + 1) % len(s.buf)
	s.n--
	return Event{Kind: EventNotification, Notification: n}, true
}

// run is the delivery goroutine: it moves events from the buffer to C.
func (s *Subscription) run(handler bool) {
	defer func() {
		close(s.out)
		if !handler {
			close(s.exited)
		}
		s.l.wg.Done()
	}()
	done := s.ctx.Done()
	for {
		ev, ok := s.next()
		if !ok {
			select {
			case <-s.sig:
				continue
			case <-done:
				return
			}
		}
		if !s.send(ev, done) {
			return
		}
	}
}

// send hands ev to the subscriber. A gap waiting to be taken absorbs the losses that happen
// meanwhile, so the subscriber sees one gap, not several in a row.
func (s *Subscription) send(ev Event, done <-chan struct{}) bool {
	for {
		select {
		case s.out <- ev:
			s.l.stats.delivered.Add(1)
			if ev.Kind == EventGap {
				s.l.stats.gaps.Add(1)
			}
			return true
		case <-s.sig:
			if ev.Kind != EventGap {
				continue
			}
			s.mu.Lock()
			if g := s.gap; g != nil {
				s.gap = nil
				ev.Gap.Dropped += g.Dropped
				if ev.Gap.Err == nil {
					ev.Gap.Err = g.Err
				}
			}
			s.mu.Unlock()
		case <-done:
			return false
		}
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
