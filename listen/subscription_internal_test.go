package listen

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

// testSub returns an active subscription of a listener without a connection.
func testSub(t *testing.T, bufferSize int) (*Listener, *Subscription) {
	t.Helper()
	l := newListener(nil, nil, []Option{WithBufferSize(bufferSize)})
	ch := newChannel("ch")
	s := newSubscription(l, ch)
	s.status = subActive
	t.Cleanup(func() {
		s.end()
		l.wg.Wait() // the delivery goroutine exits once the subscription ended
	})
	return l, s
}

func note(i int) Event { return Event{Channel: "ch", Payload: strconv.Itoa(i), PID: 1} }

func recv(t *testing.T, s *Subscription) (Event, bool) {
	t.Helper()
	select {
	case ev, ok := <-s.out:
		return ev, ok
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return Event{}, false
}

// TestDeliveryKeepsOrderAndCountsDrops: 40 notifications into a buffer of 32 that nobody
// reads meanwhile: C's 2, the queue's 30 and the one the delivery goroutine holds arrive in
// order, the rest is one overflow gap, and the delivery goroutine exits once all is delivered.
func TestDeliveryKeepsOrderAndCountsDrops(t *testing.T) {
	l, s := testSub(t, 32)
	dropped := 0
	for i := range 40 {
		if s.push(note(i)) {
			dropped++
		}
	}
	got, gaps, last := 0, 0, -1
	for got+gaps < 40-dropped+1 {
		ev, _ := recv(t, s)
		if ev.IsGap() {
			gaps++
			if ev.Gap.Reason != GapOverflow || ev.Gap.Dropped != dropped {
				t.Fatalf("gap %+v, %d dropped", ev.Gap, dropped)
			}
			continue
		}
		n, _ := strconv.Atoi(ev.Payload)
		if n <= last {
			t.Fatalf("%d after %d", n, last)
		}
		last = n
		got++
	}
	if gaps != 1 || got+dropped != 40 || dropped < 7 || dropped > 8 {
		t.Fatalf("got %d, %d gaps, %d dropped", got, gaps, dropped)
	}
	l.wg.Wait() // nothing waits: the delivery goroutine is gone
	if s.push(note(99)) {
		t.Fatal("dropped with an empty buffer")
	}
	if ev, _ := recv(t, s); ev.Payload != "99" || s.moving {
		t.Fatalf("got %+v, moving %v", ev, s.moving)
	}
	if st := l.Stats(); st.Delivered != uint64(got+gaps+1) || st.Gaps != 1 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st) // Dropped is counted by the reader's deliver
	}
}

// TestGapMergesIntoTheGapWaitingInC: a second gap while the first still waits alone in C
// becomes part of it (no goroutine involved: C has room).
func TestGapMergesIntoTheGapWaitingInC(t *testing.T) {
	l, s := testSub(t, 64) // C holds 4: everything goes in directly
	s.setGap(GapInitial, nil, time.Now())
	lost := errors.New("lost")
	s.setGap(GapReconnect, lost, time.Now())
	if len(s.out) != 1 || s.moving {
		t.Fatalf("C holds %d, moving %v", len(s.out), s.moving)
	}
	ev, _ := recv(t, s)
	if ev.Gap == nil || ev.Gap.Reason != GapInitial || ev.Gap.Err != lost || ev.Channel != "ch" {
		t.Fatalf("got %+v", ev)
	}
	// A notification between two gaps keeps them apart.
	s.setGap(GapInitial, nil, time.Now())
	s.push(note(1))
	s.setGap(GapReconnect, lost, time.Now())
	for _, want := range []string{"gap", "1", "gap"} {
		ev, _ := recv(t, s)
		if (want == "gap") != ev.IsGap() || (want != "gap" && ev.Payload != want) {
			t.Fatalf("got %+v, want %s", ev, want)
		}
	}
	if st := l.Stats(); st.Gaps != 3 || st.Delivered != 4 {
		t.Fatalf("stats %+v", st)
	}
}

// TestGapWithAQueuedNotification: with an unbuffered C, a gap set while a notification waits
// for the subscriber comes after it when the delivery goroutine already holds it, else first
// (a pending gap goes before what is queued: it supersedes it); both arrive.
func TestGapWithAQueuedNotification(t *testing.T) {
	_, s := testSub(t, 1) // C unbuffered, a queue of 1
	s.push(note(1))
	s.setGap(GapReconnect, errors.New("lost"), time.Now())
	a, _ := recv(t, s)
	b, _ := recv(t, s)
	if a.IsGap() == b.IsGap() || (a.Payload+b.Payload) != "1" {
		t.Fatalf("got %+v and %+v", a, b)
	}
	g := a.Gap
	if g == nil {
		g = b.Gap
	}
	if g.Reason != GapReconnect || g.Err == nil {
		t.Fatalf("gap %+v", g)
	}
}

// TestEndWhileDelivering: ending a subscription whose delivery goroutine waits for room in C
// closes C and lets the goroutine exit; nothing is delivered after the end.
func TestEndWhileDelivering(t *testing.T) {
	l, s := testSub(t, 1)
	s.push(note(1)) // held by the delivery goroutine: nobody reads
	s.push(note(2)) // queued
	s.end()
	n := 0
	for {
		if _, ok := recv(t, s); !ok {
			break
		}
		n++
	}
	l.wg.Wait()
	if n > 1 || s.push(note(3)) {
		t.Fatalf("%d events after the end", n)
	}
	s.setGap(GapReconnect, nil, time.Now()) // a no-op
	s.end()                                 // idempotent
}
