package listen

import (
	"context"
	"sync"
	"time"
)

// Subscription is one subscriber's view of a channel; its events arrive on C. Each
// subscription has its own bounded buffer (see [WithBufferSize]), so a slow subscriber never
// delays the listener or the other subscriptions. An idle subscription costs about 1.4 kB and
// no goroutine: the reader puts events into C directly while C has room, and a delivery
// goroutine runs only while events wait for room in C.
type Subscription struct {
	l   *Listener
	ch  *channel
	out chan Event

	// guarded by l.mu
	status subStatus
	idx    int           // position in ch.subs while active
	err    error         // why a pending subscription was refused
	ready  chan struct{} // closed when a pending subscription is activated or refused

	mu      sync.Mutex // guards the queue, the pending gap and the delivery state
	q       []Event    // notifications waiting for room in C, from q[head]
	head    int
	max     int           // how many may wait in q
	gap     *Gap          // the pending gap, delivered before the queue
	tailGap *Gap          // the last event put into C, while it is a gap (it may still be waiting there)
	moving  bool          // the delivery goroutine runs
	ended   bool          // C is closed, or about to be (by the delivery goroutine)
	sig     chan struct{} // wakes the delivery goroutine; capacity 1
}

type subStatus uint8

const (
	subPending subStatus = iota
	subActive
	subRemoved
)

// maxChanBuffer caps the part of a subscription's buffer that is C's own buffer.
const maxChanBuffer = 1024

func newSubscription(l *Listener, ch *channel) *Subscription {
	inChan := min(maxChanBuffer, l.cfg.bufferSize/16)
	return &Subscription{l: l, ch: ch, out: make(chan Event, inChan), max: l.cfg.bufferSize - inChan}
}

// C returns the channel of events. It is closed when the subscription ends (Unsubscribe,
// Close, or a LISTEN the server refused); events still buffered in it can be received first.
// A gap that is still waiting alone in C absorbs later losses, so a subscriber that has not
// read it yet gets one gap for them, not several.
func (s *Subscription) C() <-chan Event { return s.out }

// Unsubscribe ends the subscription and closes C. When it was the channel's last
// subscription it waits (bounded by ctx) until UNLISTEN was acknowledged or the connection was
// lost. It is idempotent and safe to call while another goroutine reads C.
func (s *Subscription) Unsubscribe(ctx context.Context) error { return s.l.unsubscribe(ctx, s) }

func (s *Subscription) qlen() int { return len(s.q) - s.head }

func (s *Subscription) signal() {
	select {
	case s.sig <- struct{}{}:
	default:
	}
}

// startLocked starts the delivery goroutine. s.mu is held.
func (s *Subscription) startLocked() {
	s.moving = true
	if s.sig == nil {
		s.sig = make(chan struct{}, 1)
	}
	s.l.wg.Add(1)
	go s.move()
}

// setGap sets or merges the pending gap and delivers it as soon as C has room. It never
// blocks.
func (s *Subscription) setGap(reason GapReason, err error, since time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	if s.gap == nil {
		s.gap = &Gap{Reason: reason, Err: err, Since: since}
	} else if s.gap.Err == nil {
		s.gap.Err = err
	}
	switch {
	case s.moving:
		s.signal() // the delivery goroutine may hold a gap to merge this one into
	case s.flushGapLocked(): // C is full
		s.startLocked()
	}
}

// push hands a notification over without blocking: into C while nothing waits before it and
// C has room, else into the queue, else (the buffer is full) it is dropped and counted in the
// pending overflow gap. It reports whether it was dropped. It runs on the reader goroutine.
func (s *Subscription) push(ev Event) (dropped bool) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return false
	}
	if !s.moving && s.gap == nil { // then the queue is empty too
		select {
		case s.out <- ev:
			s.tailGap = nil
			s.mu.Unlock()
			s.l.stats.delivered.Add(1)
			return false
		default:
		}
	}
	if s.qlen() < s.max {
		if len(s.q) == cap(s.q) && s.head > 0 { // reuse the room the delivered ones left
			n := copy(s.q, s.q[s.head:])
			clear(s.q[n:])
			s.q, s.head = s.q[:n], 0
		}
		s.q = append(s.q, ev)
	} else {
		dropped = true
		if s.gap == nil {
			s.gap = &Gap{Reason: GapOverflow, Since: time.Now()}
		}
		s.gap.Dropped++
	}
	if !s.moving {
		s.startLocked()
	} else if dropped {
		s.signal() // the delivery goroutine may hold a gap to merge the drop into
	}
	s.mu.Unlock()
	return dropped
}

// flushGapLocked puts the pending gap into C without blocking. When the last event put into
// C is a gap that is still waiting there alone, the pending gap is merged into it instead, so
// that a subscriber that has not read it yet sees one gap, not two in a row (s.mu is held and
// no other goroutine sends on C, so the one event taken out goes back at once). A gap with
// notifications before it in C is left alone: merging into it could reorder events. It
// reports whether the gap is still pending because C is full. s.mu is held, and the delivery
// goroutine holds no event.
func (s *Subscription) flushGapLocked() bool {
	g := s.gap
	if g == nil {
		return false
	}
	if tail := s.tailGap; tail != nil && len(s.out) == 1 {
		select {
		case e := <-s.out:
			if e.Gap == tail { // always: C held one event, the last one put in
				mergeGap(tail, g) // before it goes back, where the subscriber can read it
				s.gap = nil
			}
			s.out <- e // C has room: it just gave this event
			if s.gap == nil {
				return false
			}
		default: // the subscriber took it meanwhile
		}
	}
	select {
	case s.out <- Event{Channel: s.ch.name, Gap: g}:
		s.gap = nil
		s.tailGap = g
		s.countGap()
		return false
	default:
		return true
	}
}

func (s *Subscription) countGap() {
	s.l.stats.delivered.Add(1)
	s.l.stats.gaps.Add(1)
}

// mergeGap adds the losses of later to g, which keeps its reason and start.
func mergeGap(g, later *Gap) {
	g.Dropped += later.Dropped
	if g.Err == nil {
		g.Err = later.Err
	}
}

// move is the delivery goroutine: it moves the pending gap, then the queue, into C, waiting
// for room, and exits once nothing waits. It closes C when the subscription ends meanwhile.
func (s *Subscription) move() {
	defer s.l.wg.Done()
	s.mu.Lock()
	for {
		if s.ended {
			close(s.out)
			s.moving = false
			s.mu.Unlock()
			return
		}
		var ev Event
		switch {
		case s.gap != nil:
			if !s.flushGapLocked() {
				continue
			}
			ev = Event{Channel: s.ch.name, Gap: s.gap}
			s.gap = nil
		case s.qlen() > 0:
			ev = s.q[s.head]
			s.q[s.head] = Event{}
			s.head++
			if s.head == len(s.q) {
				s.q, s.head = s.q[:0], 0
			}
			select {
			case s.out <- ev:
				s.tailGap = nil
				s.l.stats.delivered.Add(1)
				continue
			default:
			}
		default:
			s.moving = false
			if cap(s.q) > 64 {
				s.q = nil // a burst's queue: give it back
			}
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		sent := s.send(&ev)
		s.mu.Lock()
		if sent {
			s.tailGap = ev.Gap
		}
	}
}

// send puts ev into C, waiting for room; a gap waiting to get in absorbs the losses that
// happen meanwhile. It reports false when the subscription ended first.
func (s *Subscription) send(ev *Event) bool {
	for {
		select {
		case s.out <- *ev:
			s.l.stats.delivered.Add(1)
			if ev.Gap != nil {
				s.l.stats.gaps.Add(1)
			}
			return true
		case <-s.sig:
			s.mu.Lock()
			if s.ended {
				s.mu.Unlock()
				return false
			}
			if ev.Gap != nil && s.gap != nil {
				mergeGap(ev.Gap, s.gap)
				s.gap = nil
			}
			s.mu.Unlock()
		}
	}
}

// end marks the subscription ended: nothing more goes into C, which is closed now, or by the
// delivery goroutine when it runs.
func (s *Subscription) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = true
	s.q, s.head, s.gap = nil, 0, nil
	if s.moving {
		s.signal()
	} else {
		close(s.out)
	}
}
