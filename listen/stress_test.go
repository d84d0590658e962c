package listen_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider/listen"
)

// TestStressUnderKills runs Subscribe and Unsubscribe (some while C is being read) from many goroutines
// while the listener's backend is killed repeatedly, then closes the listener under load.
func TestStressUnderKills(t *testing.T) {
	node := shared(t)
	opt, states := stateWatcher()
	l, err := listen.New(node.DSN(), opt, listen.WithBackoff(5*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	db := openDB(t, node.DSN())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var subscribed, kept, closedSeen atomic.Int64
	channels := []string{"s0", "s1", "s2"}
	worker := func(i int) {
		defer wg.Done()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			ch := channels[(i+n)%len(channels)]
			s, err := l.Subscribe(ctx, ch)
			cancel()
			if errors.Is(err, listen.ErrListenerClosed) {
				return
			}
			if err != nil {
				t.Errorf("Subscribe: %v", err)
				return
			}
			subscribed.Add(1)
			if n%4 == 3 { // read C meanwhile, until Unsubscribe or Close closes it
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range s.C() {
					}
				}()
			} else if ev, ok := <-s.C(); ok && (!ev.IsGap() || ev.Gap.Reason != listen.GapInitial) {
				t.Errorf("first event %+v", ev)
			}
			if n%10 != 9 {
				if err := s.Unsubscribe(context.Background()); err != nil {
					t.Errorf("Unsubscribe: %v", err)
				}
				continue
			}
			// Keep this one until Close: its channel must close.
			kept.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range s.C() {
				}
				closedSeen.Add(1)
			}()
		}
	}
	for i := range 8 {
		wg.Add(1)
		go worker(i)
	}
	awaitConnected(t, states)
	for range 5 {
		if _, err := node.TerminateBackends(context.Background(), "application_name = 'pgprovider-listener'"); err != nil {
			t.Fatal(err)
		}
		notify(t, db, "s0", "x")
		awaitConnected(t, states)
	}
	close(stop)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second { // a hang bound: it takes milliseconds
		t.Fatalf("Close took %v", d)
	}
	wg.Wait()
	if kept.Load() != closedSeen.Load() {
		t.Fatalf("kept %d subscriptions, %d channels closed", kept.Load(), closedSeen.Load())
	}
	if st := l.Stats(); st.Reconnects < 5 || st.Subscriptions != 0 {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("subscriptions: %d, kept until Close: %d, stats %+v", subscribed.Load(), kept.Load(), l.Stats())
}
