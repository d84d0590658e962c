package listen_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/faultproxy"
	"github.com/pgprovider/pgprovider/listen"
)

func TestFromConnector(t *testing.T) {
	node := shared(t)
	ctx := context.Background()
	var hooked atomic.Int32
	c, err := pgprovider.NewConnector(node.DSN(), pgprovider.WithBeforeConnect(func(_ context.Context, cfg *pgx.ConnConfig) error {
		hooked.Add(1)
		cfg.RuntimeParams["application_name"] = "from-connector"
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l, err := listen.FromConnector(c)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	s := subscribe(t, l, "fc")
	expectGap(t, s, listen.GapInitial)
	if hooked.Load() != 1 {
		t.Fatalf("before-connect hook ran %d times", hooked.Load())
	}
	var app string
	if err := node.QueryRow(ctx, "SELECT application_name FROM pg_stat_activity WHERE pid = $1", int64(l.Stats().BackendPID)).Scan(&app); err != nil || app != "from-connector" {
		t.Fatalf("application_name %q: %v", app, err)
	}

	mock, err := pgprovider.NewConnector("", pgprovider.WithBackend(c))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := listen.FromConnector(mock); err == nil {
		t.Fatal("FromConnector accepted a connector without pgx configuration")
	}
	if _, err := listen.New("host=localhost port=notaport"); err == nil {
		t.Fatal("New accepted a malformed DSN")
	}
}

// TestOverflowKeepsTheOldest: a full buffer drops the newest notifications and says so with
// one overflow gap.
func TestOverflowKeepsTheOldest(t *testing.T) {
	node := shared(t)
	db := openDB(t, node.DSN())
	l := newListener(t, node.DSN(), listen.WithBufferSize(2))
	s := subscribe(t, l, "ovf")
	expectGap(t, s, listen.GapInitial)
	if _, err := db.Exec("SELECT pg_notify('ovf', g::text) FROM generate_series(1, 6) g"); err != nil {
		t.Fatal(err)
	}
	notify(t, db, "ovf", "end")
	waitFor(t, func() bool { return l.Stats().Received == 7 }) // every drop happened before reading
	var got []string
	dropped, gaps := 0, 0
	for len(got)+dropped < 7 {
		ev := next(t, s)
		if ev.IsGap() {
			if ev.Gap.Reason != listen.GapOverflow || ev.Gap.Since.IsZero() {
				t.Fatalf("gap %+v", ev.Gap)
			}
			gaps++
			dropped += ev.Gap.Dropped
			continue
		}
		got = append(got, ev.Payload)
	}
	// The oldest stay: "1" and "2" (C is unbuffered with a buffer of 2), and "3" when "1"
	// already sat in the delivery goroutine.
	j := strings.Join(got, ",")
	if gaps != 1 || (j != "1,2" && j != "1,2,3") || uint64(dropped) != l.Stats().Dropped {
		t.Fatalf("got %v, %d gaps, %d dropped, stats %+v", got, gaps, dropped, l.Stats())
	}
}

func TestGapsMerge(t *testing.T) {
	node := shared(t)
	opt, states := stateWatcher()
	l := newListener(t, node.DSN(), opt, listen.WithBackoff(5*time.Millisecond, 50*time.Millisecond))
	s := subscribe(t, l, "merge")
	awaitConnected(t, states)
	pid := l.Stats().BackendPID
	// The initial gap is not read yet when the connection is lost: the subscriber sees one gap.
	if _, err := node.TerminateBackends(context.Background(), "pid = "+itoa(int(pid))); err != nil {
		t.Fatal(err)
	}
	awaitConnected(t, states)
	g := expectGap(t, s, listen.GapInitial)
	if g.Err == nil {
		t.Fatalf("merged gap lost the cause: %+v", g)
	}
	db := openDB(t, node.DSN())
	notify(t, db, "merge", "after")
	expectPayload(t, s, "after")
	// The gap taken back and merged counts once. (Counters are updated right after the hand-
	// over, so the subscriber may see an event a moment before Stats does.)
	waitFor(t, func() bool { return l.Stats().Delivered >= 2 })
	if st := l.Stats(); st.Gaps != 1 || st.Delivered != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestQueuedGapKeepsOrder: a gap behind queued notifications is not merged with later
// losses (that could reorder events); the subscriber gets the notifications, then the gap,
// and Stats count each event once.
func TestQueuedGapKeepsOrder(t *testing.T) {
	node := shared(t)
	opt, states := stateWatcher()
	l := newListener(t, node.DSN(), opt, listen.WithBackoff(5*time.Millisecond, 50*time.Millisecond), listen.WithBufferSize(64))
	s := subscribe(t, l, "order")
	awaitConnected(t, states)
	expectGap(t, s, listen.GapInitial)
	db := openDB(t, node.DSN())
	notify(t, db, "order", "a")
	notify(t, db, "order", "b")
	waitFor(t, func() bool { return l.Stats().Delivered == 3 }) // the gap, a and b, queued in C
	pid := l.Stats().BackendPID
	if _, err := node.TerminateBackends(context.Background(), "pid = "+itoa(int(pid))); err != nil {
		t.Fatal(err)
	}
	awaitConnected(t, states)
	expectPayload(t, s, "a")
	expectPayload(t, s, "b")
	if g := expectGap(t, s, listen.GapReconnect); g.Dropped != 0 || g.Err == nil {
		t.Fatalf("gap %+v", g)
	}
	notify(t, db, "order", "after")
	expectPayload(t, s, "after")
	waitFor(t, func() bool { return l.Stats().Delivered >= 5 })
	if st := l.Stats(); st.Dropped != 0 || st.Delivered != 5 || st.Gaps != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSubscribeTimesOutWhileDown(t *testing.T) {
	node := shared(t)
	p, err := faultproxy.New(node.Host + ":" + itoa(node.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetMode(faultproxy.Blackhole)
	var dialTimeout atomic.Int64 // short while the proxy black-holes, then a hang bound only
	dialTimeout.Store(int64(50 * time.Millisecond))
	opt, states := stateWatcher()
	l := newListener(t, proxyDSN(node, p), opt,
		listen.WithConnConfig(func(c *pgx.ConnConfig) { c.ConnectTimeout = time.Duration(dialTimeout.Load()) }),
		listen.WithBackoff(10*time.Millisecond, 20*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	subErr := make(chan error, 1)
	go func() {
		_, err := l.Subscribe(ctx, "down")
		subErr <- err
	}()
	if s := awaitBackoff(t, states); s.Err == nil || s.Attempt < 2 { // a dial timed out
		t.Fatalf("state %+v", s)
	}
	cancel()
	if err := <-subErr; !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "not connected") {
		t.Fatalf("Subscribe: %v", err)
	}
	if st := l.Stats(); st.Subscriptions != 0 || st.DialErrors == 0 || st.Connected {
		t.Fatalf("stats %+v", st)
	}
	// The server comes back: a new Subscribe succeeds on the first connection.
	dialTimeout.Store(int64(waitLong))
	p.SetMode(faultproxy.Pass)
	s := subscribe(t, l, "down")
	expectGap(t, s, listen.GapInitial)
}

func TestIdlePing(t *testing.T) {
	node := shared(t)
	l := newListener(t, node.DSN(), listen.WithPing(20*time.Millisecond, time.Second))
	s := subscribe(t, l, "idle")
	expectGap(t, s, listen.GapInitial)
	deadline := time.Now().Add(waitLong)
	for l.Stats().Pings < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := l.Stats(); st.Pings < 3 || st.PingFailures != 0 || st.Connects != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{listen.GapInitial.String(), "initial"},
		{listen.GapReconnect.String(), "reconnect"},
		{listen.GapOverflow.String(), "overflow"},
		{listen.GapReason(0).String(), "unknown"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%q, want %q", tt.got, tt.want)
		}
	}
	if err := listen.Validate("c", "a\x00b"); !errors.Is(err, listen.ErrInvalid) || !strings.Contains(err.Error(), "NUL") {
		t.Fatalf("NUL payload: %v", err)
	}
	if err := listen.NotifyJSON(context.Background(), nil, "c", func() {}); err == nil {
		t.Fatal("NotifyJSON encoded a func")
	}
}
