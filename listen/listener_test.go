package listen_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider/listen"
)

func TestRoundTrip(t *testing.T) {
	node := shared(t)
	db := openDB(t, node.DSN())
	l := newListener(t, node.DSN())

	a := subscribe(t, l, "rt")
	b := subscribe(t, l, "rt")
	other := subscribe(t, l, "rt_other")
	for _, s := range []*listen.Subscription{a, b, other} {
		expectGap(t, s, listen.GapInitial)
	}
	notify(t, db, "rt", "one")
	expectEvent(t, a, "rt", "one")
	expectEvent(t, b, "rt", "one")

	// UNLISTEN only when the last subscription goes: b still receives after a left.
	ctx := context.Background()
	if err := a.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Unsubscribe(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	if _, ok := <-a.C(); ok {
		t.Fatal("C not closed after Unsubscribe")
	}
	notify(t, db, "rt", "two")
	expectPayload(t, b, "two")
	if st := l.Stats(); st.Channels != 2 || st.Subscriptions != 2 || !st.Connected || st.BackendPID == 0 {
		t.Fatalf("stats %+v", st)
	}
	if err := b.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Channels != 1 {
		t.Fatalf("channels %d after last unsubscribe", st.Channels)
	}
	// Resubscribe on the same connection: a new initial gap, then notifications.
	c := subscribe(t, l, "rt")
	expectGap(t, c, listen.GapInitial)
	notify(t, db, "rt", "three")
	expectPayload(t, c, "three")
	notify(t, db, "rt_other", "x")
	expectEvent(t, other, "rt_other", "x")

	st := l.Stats()
	if st.Connects != 1 || st.Received < 4 || st.Gaps != 4 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestJSON(t *testing.T) {
	node := shared(t)
	db := openDB(t, node.DSN())
	type msg struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	l := newListener(t, node.DSN())
	s := subscribe(t, l, "json")
	ev := next(t, s)
	if _, err := listen.DecodeJSON[msg](ev); !errors.Is(err, listen.ErrInvalid) || !ev.IsGap() {
		t.Fatalf("DecodeJSON of the initial gap: %v", err)
	}
	if err := listen.NotifyJSON(context.Background(), db, "json", msg{2, "ok"}); err != nil {
		t.Fatal(err)
	}
	if m, err := listen.DecodeJSON[msg](next(t, s)); err != nil || m != (msg{2, "ok"}) {
		t.Fatalf("got %+v, %v", m, err)
	}
	notify(t, db, "json", "{bad")
	var se *json.SyntaxError
	if _, err := listen.DecodeJSON[msg](next(t, s)); !errors.As(err, &se) {
		t.Fatalf("decode error: %v", err)
	}
}

func TestLimits(t *testing.T) {
	node := shared(t)
	db := openDB(t, node.DSN())
	l := newListener(t, node.DSN())
	ctx := context.Background()

	tests := []struct {
		name       string
		channel    string
		payload    string
		badChannel bool // Validate, Notify and Subscribe refuse the channel
		badPayload bool // Validate and Notify refuse the payload
	}{
		{name: "7999 bytes", channel: "lim", payload: strings.Repeat("x", 7999)},
		{name: "8000 bytes", channel: "lim", payload: strings.Repeat("x", 8000), badPayload: true},
		{name: "2666 euro signs, 7998 bytes", channel: "lim", payload: strings.Repeat("€", 2666)},
		{name: "2667 euro signs, 8001 bytes", channel: "lim", payload: strings.Repeat("€", 2667), badPayload: true},
		{name: "63-byte channel", channel: strings.Repeat("c", 63), payload: "p"},
		{name: "64-byte channel", channel: strings.Repeat("c", 64), payload: "p", badChannel: true},
		{name: "empty channel", channel: "", payload: "p", badChannel: true},
		{name: "NUL in channel", channel: "a\x00b", payload: "p", badChannel: true},
		{name: "quotes, spaces, dots", channel: `we"ird.ch an`, payload: "p"},
		{name: "mixed case", channel: "MiXeD", payload: "p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := tt.badChannel || tt.badPayload
			if err := listen.Validate(tt.channel, tt.payload); bad != errors.Is(err, listen.ErrInvalid) || bad != (err != nil) {
				t.Fatalf("Validate: %v", err)
			}
			if err := listen.Notify(ctx, db, tt.channel, tt.payload); bad != errors.Is(err, listen.ErrInvalid) || bad != (err != nil) {
				t.Fatalf("Notify: %v", err)
			}
			s, err := l.Subscribe(ctx, tt.channel)
			if tt.badChannel {
				if !errors.Is(err, listen.ErrInvalid) {
					t.Fatalf("Subscribe: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Unsubscribe(ctx)
			expectGap(t, s, listen.GapInitial)
			if bad {
				return
			}
			notify(t, db, tt.channel, tt.payload)
			expectEvent(t, s, tt.channel, tt.payload)
		})
	}

	t.Run("case-sensitive, SQL NOTIFY folds", func(t *testing.T) {
		s := subscribe(t, l, "Foo")
		defer s.Unsubscribe(ctx)
		expectGap(t, s, listen.GapInitial)
		if _, err := db.ExecContext(ctx, "NOTIFY Foo, 'folded'"); err != nil {
			t.Fatal(err)
		}
		notify(t, db, "Foo", "exact")
		expectPayload(t, s, "exact")
	})
}

func TestTransactions(t *testing.T) {
	node := shared(t)
	db := openDB(t, node.DSN())
	l := newListener(t, node.DSN())
	ctx := context.Background()
	s := subscribe(t, l, "tx")
	expectGap(t, s, listen.GapInitial)

	tests := []struct {
		name   string
		send   []string
		commit bool
		want   []string
	}{
		{"commit", []string{"c1"}, true, []string{"c1"}},
		{"rollback", []string{"r1"}, false, nil},
		{"duplicates folded", []string{"a", "a", "b", "a"}, true, []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tt.send {
				notify(t, tx, "tx", p)
			}
			// A marker committed meanwhile arrives first: nothing was delivered before commit.
			notify(t, db, "tx", "marker-before")
			expectPayload(t, s, "marker-before")
			if tt.commit {
				err = tx.Commit()
			} else {
				err = tx.Rollback()
			}
			if err != nil {
				t.Fatal(err)
			}
			notify(t, db, "tx", "marker-after")
			for _, p := range tt.want {
				expectPayload(t, s, p)
			}
			expectPayload(t, s, "marker-after")
		})
	}
	// Notify on a *sql.Conn works too.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	notify(t, conn, "tx", "via-conn")
	expectPayload(t, s, "via-conn")
}

func TestBackoffSchedule(t *testing.T) {
	tests := []struct {
		name   string
		opts   []listen.Option
		n      int
		lo, hi time.Duration
	}{
		{"first, no jitter", []listen.Option{listen.WithBackoff(100*time.Millisecond, time.Second), listen.WithJitter(0)}, 1, 100 * time.Millisecond, 100 * time.Millisecond},
		{"grows", []listen.Option{listen.WithBackoff(100*time.Millisecond, time.Second), listen.WithJitter(0)}, 3, 400 * time.Millisecond, 400 * time.Millisecond},
		{"capped", []listen.Option{listen.WithBackoff(100*time.Millisecond, time.Second), listen.WithJitter(0)}, 30, time.Second, time.Second},
		// Jitter f randomizes a delay d to [d×(1−f), d×(1+f)], as in package retry.
		{"default jitter 0.5", []listen.Option{listen.WithBackoff(100*time.Millisecond, time.Second)}, 2, 100 * time.Millisecond, 300 * time.Millisecond},
		{"jitter 0.1", []listen.Option{listen.WithBackoff(100*time.Millisecond, time.Second), listen.WithJitter(0.1)}, 1, 90 * time.Millisecond, 110 * time.Millisecond},
		{"full jitter, capped before", []listen.Option{listen.WithBackoff(100*time.Millisecond, time.Second), listen.WithJitter(1)}, 30, 0, 2 * time.Second},
		{"jitter clamped to 1", []listen.Option{listen.WithBackoff(100*time.Millisecond, time.Second), listen.WithJitter(7)}, 1, 0, 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 50 {
				d := listen.BackoffDelay(tt.n, tt.opts...)
				if d < tt.lo || d > tt.hi {
					t.Fatalf("delay %v not in [%v, %v]", d, tt.lo, tt.hi)
				}
			}
		})
	}
}

// TestUnsubscribeWhileDelivering: a subscription whose delivery goroutine waits for room in
// C ends at once; C holds what was in it, then is closed (goleak checks the goroutine exited).
func TestUnsubscribeWhileDelivering(t *testing.T) {
	node := shared(t)
	db := openDB(t, node.DSN())
	l := newListener(t, node.DSN(), listen.WithBufferSize(32)) // C holds 2, the queue 30
	s := subscribe(t, l, "unsub")
	if _, err := db.Exec("SELECT pg_notify('unsub', g::text) FROM generate_series(1, 10) g"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return l.Stats().Received == 10 })
	if err := s.Unsubscribe(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := 0
	for range s.C() {
		n++
	}
	if n > 2 {
		t.Fatalf("%d events after Unsubscribe, want at most C's 2", n)
	}
	if st := l.Stats(); st.Subscriptions != 0 || st.Channels != 0 {
		t.Fatalf("stats %+v", st)
	}
}
