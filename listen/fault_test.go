package listen_test

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider/internal/faultproxy"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/listen"
)

// stateWatcher turns state-hook callbacks into a channel tests can await.
func stateWatcher() (listen.Option, <-chan listen.State) {
	ch := make(chan listen.State, 1024)
	return listen.WithStateHook(func(s listen.State) {
		select {
		case ch <- s:
		default:
		}
	}), ch
}

// awaitState waits for a state change that satisfies cond (what names).
func awaitState(t testing.TB, ch <-chan listen.State, what string, cond func(listen.State) bool) listen.State {
	t.Helper()
	timeout := time.After(waitLong)
	for {
		select {
		case s := <-ch:
			if cond(s) {
				return s
			}
		case <-timeout:
			t.Fatalf("no %s state within %v", what, waitLong)
		}
	}
}

// awaitConnected waits for a connection that came up with every channel LISTENed.
func awaitConnected(t testing.TB, ch <-chan listen.State) listen.State {
	t.Helper()
	return awaitState(t, ch, "connected", func(s listen.State) bool { return s.Connected })
}

// awaitBackoff waits for a failed dial: the listener waits before the next one.
func awaitBackoff(t testing.TB, ch <-chan listen.State) listen.State {
	t.Helper()
	return awaitState(t, ch, "backoff", func(s listen.State) bool { return !s.Connected && s.Delay > 0 })
}

func TestGapAfterReconnect(t *testing.T) {
	node := shared(t)
	tests := []struct {
		name  string
		fault func(t *testing.T, node *pgtest.Node, states <-chan listen.State)
	}{
		{"backend killed", func(t *testing.T, node *pgtest.Node, _ <-chan listen.State) {
			if n, err := node.TerminateBackends(context.Background(), "application_name = 'pgprovider-listener'"); err != nil || n != 1 {
				t.Fatalf("terminated %d: %v", n, err)
			}
		}},
		{"server restarted", func(t *testing.T, node *pgtest.Node, _ <-chan listen.State) {
			if err := node.Restart(context.Background()); err != nil {
				t.Fatal(err)
			}
		}},
		// Down for 10 s: many capped backoffs, still exactly one gap per subscriber.
		{"server down 10s", func(t *testing.T, node *pgtest.Node, states <-chan listen.State) {
			if err := node.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
			down := time.Now()
			for time.Since(down) < 10*time.Second {
				awaitBackoff(t, states)
			}
			if err := node.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openDB(t, node.DSN())
			opt, states := stateWatcher()
			l := newListener(t, node.DSN(), opt, listen.WithBackoff(20*time.Millisecond, 500*time.Millisecond))
			subs := []*listen.Subscription{subscribe(t, l, "gap"), subscribe(t, l, "gap"), subscribe(t, l, "gap2")}
			for _, s := range subs {
				expectGap(t, s, listen.GapInitial)
			}
			awaitConnected(t, states)
			pid := l.Stats().BackendPID
			start := time.Now()
			tt.fault(t, node, states)
			faulted := time.Now()
			for _, s := range subs {
				g := expectGap(t, s, listen.GapReconnect)
				if g.Err == nil || g.Since.IsZero() {
					t.Fatalf("gap without cause: %+v", g)
				}
			}
			t.Logf("fault start -> gaps: %v (fault done -> gaps: %v)", time.Since(start), time.Since(faulted))
			// The gap came after re-LISTEN: a NOTIFY sent now must arrive, and no second gap.
			db.SetMaxIdleConns(0) // the pool's old backend may be gone
			notify(t, db, "gap", "after")
			notify(t, db, "gap2", "after")
			for _, s := range subs {
				expectPayload(t, s, "after")
			}
			st := l.Stats()
			if st.Reconnects != 1 || st.BackendPID == pid || st.Gaps != 6 {
				t.Fatalf("stats %+v (old pid %d)", st, pid)
			}
		})
	}
}

// TestGapAfterNetworkCut: a connection that ends without a word from the server (a FIN or
// a reset from the network) is noticed at once, and reconnected.
func TestGapAfterNetworkCut(t *testing.T) {
	node := shared(t)
	db := openDB(t, node.DSN())
	for _, tt := range []struct {
		name string
		cut  func(*faultproxy.Proxy)
	}{
		{"FIN", (*faultproxy.Proxy).CloseAll},
		{"RST", (*faultproxy.Proxy).ResetAll},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := faultproxy.New(node.Host + ":" + itoa(node.Port))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			opt, states := stateWatcher()
			l := newListener(t, proxyDSN(node, p), opt, listen.WithPing(0, 0)) // no ping: the read must see it
			s := subscribe(t, l, "cut")
			expectGap(t, s, listen.GapInitial)
			awaitConnected(t, states)
			tt.cut(p)
			if g := expectGap(t, s, listen.GapReconnect); g.Err == nil {
				t.Fatalf("gap without cause: %+v", g)
			}
			notify(t, db, "cut", "after")
			expectPayload(t, s, "after")
			if st := l.Stats(); st.Reconnects != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestCloseIsBounded(t *testing.T) {
	node := shared(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, p *faultproxy.Proxy) (await func(states <-chan listen.State))
	}{
		{"during backoff", func(t *testing.T, p *faultproxy.Proxy) func(<-chan listen.State) {
			p.SetMode(faultproxy.Refuse)
			return func(states <-chan listen.State) { awaitBackoff(t, states) }
		}},
		{"during black-holed dial", func(t *testing.T, p *faultproxy.Proxy) func(<-chan listen.State) {
			p.SetMode(faultproxy.Blackhole)
			return func(<-chan listen.State) {
				ctx, cancel := context.WithTimeout(context.Background(), waitLong)
				defer cancel()
				if err := p.WaitStats(ctx, func(s faultproxy.Stats) bool { return s.Accepted > 0 }); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := faultproxy.New(node.Host + ":" + itoa(node.Port))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			await := tt.setup(t, p)
			opt, states := stateWatcher()
			l, err := listen.New(proxyDSN(node, p), opt, listen.WithBackoff(10*time.Second, time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			subErr := make(chan error, 1)
			go func() {
				_, err := l.Subscribe(context.Background(), "never")
				subErr <- err
			}()
			await(states)
			start := time.Now()
			if err := l.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			// Close interrupts a 10 s backoff or a dial bounded by 30 s: it takes about a
			// millisecond, a loaded machine can make that a few hundred.
			d := time.Since(start)
			t.Logf("Close took %v", d)
			if d > 2*time.Second {
				t.Fatalf("Close took %v", d)
			}
			if err := <-subErr; err != listen.ErrListenerClosed {
				t.Fatalf("pending Subscribe: %v", err)
			}
			if err := l.Close(context.Background()); err != nil { // idempotent
				t.Fatal(err)
			}
			if _, err := l.Subscribe(context.Background(), "x"); err != listen.ErrListenerClosed {
				t.Fatalf("Subscribe after Close: %v", err)
			}
		})
	}
}

func TestHalfOpenDetectedByPing(t *testing.T) {
	node := shared(t)
	p, err := faultproxy.New(node.Host + ":" + itoa(node.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// The first connection goes through the proxy; reconnects go straight to the server.
	var dials atomic.Int32
	direct := node.Host + ":" + itoa(node.Port)
	dialVia := listen.WithConnConfig(func(c *pgx.ConnConfig) {
		c.DialFunc = func(ctx context.Context, network, _ string) (net.Conn, error) {
			addr := direct
			if dials.Add(1) == 1 {
				addr = p.Addr()
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
	})
	const interval, timeout = 500 * time.Millisecond, 500 * time.Millisecond
	l := newListener(t, node.DSN(), dialVia, listen.WithPing(interval, timeout))
	s := subscribe(t, l, "halfopen")
	expectGap(t, s, listen.GapInitial)
	p.SetMode(faultproxy.Blackhole)
	start := time.Now()
	expectGap(t, s, listen.GapReconnect)
	took := time.Since(start)
	t.Logf("half-open -> gap: %v (ping interval %v + timeout %v)", took, interval, timeout)
	if took > interval+timeout+2*time.Second {
		t.Fatalf("half-open detected after %v", took)
	}
	if st := l.Stats(); st.PingFailures != 1 {
		t.Fatalf("stats %+v", st)
	}
	db := openDB(t, node.DSN())
	notify(t, db, "halfopen", "after")
	expectPayload(t, s, "after")
}

func TestSlowSubscriberDoesNotStallOthers(t *testing.T) {
	node := shared(t)
	db := openDB(t, node.DSN())
	const buf = 5000
	l := newListener(t, node.DSN(), listen.WithBufferSize(buf))
	slow := subscribe(t, l, "flood")
	fast := subscribe(t, l, "flood")
	expectGap(t, slow, listen.GapInitial)
	expectGap(t, fast, listen.GapInitial)
	send := func(from, to int) {
		t.Helper()
		if _, err := db.Exec("SELECT pg_notify('flood', g::text) FROM generate_series($1::int, $2::int) g", from, to); err != nil {
			t.Fatal(err)
		}
	}
	// Each burst fits in a buffer, so fast keeps everything however late it reads; the
	// second burst finds slow's buffer full.
	send(1, buf)
	for i := 1; i <= buf; i++ {
		expectPayload(t, fast, itoa(i))
	}
	send(buf+1, 2*buf)
	for i := buf + 1; i <= 2*buf; i++ {
		expectPayload(t, fast, itoa(i))
	}
	// Subscribe (a LISTEN through the reader) stays fast while slow is stalled.
	start := time.Now()
	other := subscribe(t, l, "other")
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Subscribe took %v while a subscriber is stalled", d)
	}
	expectGap(t, other, listen.GapInitial)
	st := l.Stats()
	if st.Dropped == 0 {
		t.Fatalf("stats %+v", st)
	}
	// The stalled subscriber resumes: it gets what it kept, in order, and one overflow gap.
	got, gaps, dropped := 0, 0, 0
	last := 0
	for got+dropped < 2*buf {
		ev := next(t, slow)
		if ev.IsGap() {
			t.Logf("gap after %d notifications: %+v", got, ev.Gap)
			gaps++
			dropped += ev.Gap.Dropped
			if ev.Gap.Reason != listen.GapOverflow {
				t.Fatalf("gap %+v", ev.Gap)
			}
			continue
		}
		n, _ := strconv.Atoi(ev.Payload)
		if n <= last {
			t.Fatalf("notification %d after %d", n, last)
		}
		last = n
		got++
	}
	if gaps != 1 || got < buf || got > buf+1 || uint64(dropped) != st.Dropped {
		t.Fatalf("gaps %d, got %d, dropped %d, stats %+v", gaps, got, dropped, st)
	}
}
