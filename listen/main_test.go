package listen_test

import (
	"context"
	"database/sql"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/faultproxy"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/listen"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, pgtest.Options{MaxConnections: 200})) }

const waitLong = 10 * time.Second // hang bound only

// shared returns the shared primary and fails the test if it leaves goroutines behind
// (the cluster's own goroutines, also those of a restarted server, are ignored).
func shared(t *testing.T) *pgtest.Node {
	t.Helper()
	node := pgtest.Shared(t).Primary()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, opt, goleak.IgnoreAnyFunction("github.com/pgprovider/pgprovider/internal/pgtest.(*Node).launch.func1"))
	})
	return node
}

func newListener(t testing.TB, dsn string, opts ...listen.Option) *listen.Listener {
	t.Helper()
	l, err := listen.New(dsn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		if err := l.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func openDB(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := pgprovider.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func subscribe(t testing.TB, l *listen.Listener, ch string) *listen.Subscription {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	s, err := l.Subscribe(ctx, ch)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", ch, err)
	}
	return s
}

func next(t testing.TB, s *listen.Subscription) listen.Event {
	t.Helper()
	select {
	case ev, ok := <-s.C():
		if !ok {
			t.Fatal("subscription closed")
		}
		return ev
	case <-time.After(waitLong):
		t.Fatalf("no event within %v", waitLong)
	}
	return listen.Event{}
}

func expectGap(t testing.TB, s *listen.Subscription, reason listen.GapReason) *listen.Gap {
	t.Helper()
	ev := next(t, s)
	if !ev.IsGap() || ev.Gap.Reason != reason {
		t.Fatalf("%s: got %+v, want gap %v", ev.Channel, ev, reason)
	}
	return ev.Gap
}

func expectPayload(t testing.TB, s *listen.Subscription, payload string) {
	t.Helper()
	ev := next(t, s)
	if ev.IsGap() || ev.Payload != payload {
		t.Fatalf("%s: got %+v, want notification %q", ev.Channel, ev, payload)
	}
}

// expectEvent checks that the next event of s is a notification of payload on channel.
func expectEvent(t testing.TB, s *listen.Subscription, channel, payload string) {
	t.Helper()
	ev := next(t, s)
	if ev.IsGap() || ev.Payload != payload || ev.Channel != channel || ev.PID == 0 {
		t.Fatalf("got %+v, want notification %q on %q", ev, payload, channel)
	}
}

func notify(t testing.TB, db listen.Execer, ch, payload string) {
	t.Helper()
	if err := listen.Notify(context.Background(), db, ch, payload); err != nil {
		t.Fatalf("Notify(%q, %q): %v", ch, payload, err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// proxyDSN points at the fault proxy p instead of node.
func proxyDSN(node *pgtest.Node, p *faultproxy.Proxy) string {
	return node.DSN("host", p.Host(), "port", itoa(p.Port()), "connect_timeout", "30")
}

// waitFor polls cond (Stats have no signal to await) until it holds or waitLong passes.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", waitLong)
		}
		time.Sleep(time.Millisecond)
	}
}
