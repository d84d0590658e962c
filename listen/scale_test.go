package listen_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/listen"
	"github.com/pgprovider/pgprovider/pgerror"
)

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestSubscribeNotQuadratic: a Subscribe costs the same with 3 800 channels subscribed as
// with none, i.e. the last 5% of 4 000 subscribes cost what the first 5% cost. The two are
// measured interleaved, on two listeners, so that the load of the machine weighs on both
// alike; the medians of 200 subscribes each must be within ×3. The listener before this
// change, which rebuilt its route table on every LISTEN and diffed every channel on every
// Subscribe, was ×6.5 here under -race and ×9.6 without (×3.3 and ×4.1 with 1 800 channels,
// too close to the bound); this one was ×0.7 to ×1.1 in ten -race runs.
func TestSubscribeNotQuadratic(t *testing.T) {
	node := shared(t)
	const grown, samples = 3800, 200
	small := newListener(t, node.DSN())
	big := newListener(t, node.DSN())
	subscribe(t, small, "small_warm") // the dial is not part of the figures
	start := time.Now()
	for i := range grown {
		subscribe(t, big, fmt.Sprint("big", i))
	}
	grow := time.Since(start)
	t.Logf("%d subscribes one after another: %v", grown, grow)
	if grow > time.Minute { // a hang bound: about a second here, under -race
		t.Fatalf("%d subscribes took %v", grown, grow)
	}
	var few, many []time.Duration
	timed := func(l *listen.Listener, ch string) time.Duration {
		start := time.Now()
		subscribe(t, l, ch)
		return time.Since(start)
	}
	for i := range samples {
		// Alternate which goes first: the one that follows shares the CPU with the other
		// listener's reader going back to its wait.
		if i%2 == 0 {
			few = append(few, timed(small, fmt.Sprint("small", i)))
			many = append(many, timed(big, fmt.Sprint("big", grown+i)))
		} else {
			many = append(many, timed(big, fmt.Sprint("big", grown+i)))
			few = append(few, timed(small, fmt.Sprint("small", i)))
		}
	}
	ratio := float64(median(many)) / float64(median(few))
	t.Logf("median Subscribe with 0-%d channels: %v, with %d-%d: %v (×%.2f)", samples, median(few), grown, grown+samples, median(many), ratio)
	if ratio >= 3 {
		t.Fatalf("Subscribe with %d channels takes ×%.2f the time it takes with few", grown, ratio)
	}
	if st := big.Stats(); st.Channels != grown+samples || st.Subscriptions != grown+samples || st.Connects != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestReListenAfterReconnect: after a lost connection, every one of 2 000 channels is
// LISTENed again (in batches) and each subscription gets exactly one reconnect gap, after
// which its notifications arrive. Idle subscriptions have no goroutine of their own.
func TestReListenAfterReconnect(t *testing.T) {
	node := shared(t)
	const n = 2000
	db := openDB(t, node.DSN())
	opt, states := stateWatcher()
	l := newListener(t, node.DSN(), opt)
	g0 := runtime.NumGoroutine()
	subs := make([]*listen.Subscription, n)
	for i := range subs {
		subs[i] = subscribe(t, l, fmt.Sprint("re", i))
		expectGap(t, subs[i], listen.GapInitial)
	}
	if g := runtime.NumGoroutine(); g > g0+1 { // the reader goroutine
		t.Fatalf("%d goroutines for %d idle subscriptions (%d before)", g, n, g0)
	}
	awaitConnected(t, states)
	pid := l.Stats().BackendPID
	start := time.Now()
	if _, err := node.TerminateBackends(context.Background(), "pid = "+itoa(int(pid))); err != nil {
		t.Fatal(err)
	}
	awaitConnected(t, states)
	t.Logf("kill -> %d channels LISTENed again: %v", n, time.Since(start))
	for _, s := range subs {
		expectGap(t, s, listen.GapReconnect)
	}
	notify(t, db, "re0", "after")
	notify(t, db, fmt.Sprint("re", n-1), "after")
	expectPayload(t, subs[0], "after")
	expectPayload(t, subs[n-1], "after")
	for _, s := range subs[1 : n-1] {
		select {
		case ev := <-s.C():
			t.Fatalf("unexpected event %+v", ev)
		default:
		}
	}
	if st := l.Stats(); st.Reconnects != 1 || st.Gaps != 2*n || st.Channels != n {
		t.Fatalf("stats %+v", st)
	}
}

// TestConcurrentSubscribe: Subscribe calls made while others wait for their LISTEN share
// its round trip, and each gets its own initial gap.
func TestConcurrentSubscribe(t *testing.T) {
	node := shared(t)
	l := newListener(t, node.DSN())
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				s := subscribe(t, l, fmt.Sprintf("cc%d_%d", g, i%25)) // each channel twice
				expectGap(t, s, listen.GapInitial)
			}
		})
	}
	wg.Wait()
	if st := l.Stats(); st.Channels != 200 || st.Subscriptions != 400 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPermanentDialError: a database that does not exist fails Subscribe with the server's
// error at once, not when ctx ends; so does the next Subscribe.
func TestPermanentDialError(t *testing.T) {
	node := shared(t)
	l := newListener(t, node.DSN("dbname", "no_such_db"), listen.WithBackoff(time.Hour, time.Hour))
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		_, err := l.Subscribe(ctx, "perm")
		cancel()
		if pgerror.Classify(err) != pgerror.NoDatabase || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Subscribe: %v (class %v)", err, pgerror.Classify(err))
		}
	}
	if st := l.Stats(); st.DialErrors != 1 || st.Subscriptions != 0 || st.Channels != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestListenRefusedOnStandby: a standby refuses LISTEN (25006); Subscribe calls that share a
// batch each get the refusal, and the connection stays up.
func TestListenRefusedOnStandby(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Replicas: 1})
	standby := c.Replicas()[0]
	node := shared(t) // for the goroutine-leak check
	_ = node
	opt, states := stateWatcher()
	l := newListener(t, standby.DSN(), opt)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			_, err := l.Subscribe(ctx, fmt.Sprint("standby", i))
			if pgerror.Classify(err) != pgerror.ReadOnly {
				t.Errorf("Subscribe: %v (class %v)", err, pgerror.Classify(err))
			}
		})
	}
	wg.Wait()
	awaitConnected(t, states)
	if st := l.Stats(); st.Connects != 1 || st.Subscriptions != 0 || st.Channels != 0 || !st.Connected {
		t.Fatalf("stats %+v", st)
	}
}
