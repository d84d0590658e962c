package listen_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
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
	expectPayload(t, a, "one")
	expectPayload(t, b, "one")

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
	expectPayload(t, other, "x")

	st := l.Stats()
	if st.Connects != 1 || st.Received < 4 || st.Gaps != 4 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestJSONAndSubscribeFunc(t *testing.T) {
	node := shared(t)
	db := openDB(t, node.DSN())
	type msg struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	errs := make(chan error, 4)
	l := newListener(t, node.DSN(), listen.WithErrorHandler(func(ch string, err error) { errs <- err }))
	got := make(chan msg, 4)
	sub, err := listen.SubscribeFunc(context.Background(), l, "json", func(ctx context.Context, ev listen.Event) error {
		if ev.IsGap() {
			_, err := listen.DecodeJSON[msg](ev)
			return err
		}
		m, err := listen.DecodeJSON[msg](ev)
		if err != nil {
			return err
		}
		if m.Name == "boom" {
			panic("boom")
		}
		got <- m
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !errors.Is(err, listen.ErrNotNotification) {
		t.Fatalf("gap decode: %v", err)
	}
	for _, m := range []msg{{1, "boom"}, {2, "ok"}} {
		if err := listen.NotifyJSON(context.Background(), db, "json", m); err != nil {
			t.Fatal(err)
		}
	}
	var pe *listen.PanicError
	if err := <-errs; !errors.As(err, &pe) || pe.Value != "boom" {
		t.Fatalf("panic not recovered: %v", err)
	}
	if m := <-got; m != (msg{2, "ok"}) {
		t.Fatalf("got %+v", m)
	}
	if err := listen.Notify(context.Background(), db, "json", "{bad"); err != nil {
		t.Fatal(err)
	}
	var se *json.SyntaxError
	if err := <-errs; !errors.As(err, &se) {
		t.Fatalf("decode error: %v", err)
	}
	if err := sub.Unsubscribe(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sub.Done():
	case <-time.After(waitLong):
		t.Fatal("handler goroutine did not exit")
	}
}

func TestLimits(t *testing.T) {
	node := shared(t)
	db := openDB(t, node.DSN())
	l := newListener(t, node.DSN())
	ctx := context.Background()

	tests := []struct {
		name    string
		channel string
		payload string
		want    error
	}{
		{"7999 bytes", "lim", strings.Repeat("x", 7999), nil},
		{"8000 bytes", "lim", strings.Repeat("x", 8000), listen.ErrPayloadTooLarge},
		{"2666 euro signs, 7998 bytes", "lim", strings.Repeat("€", 2666), nil},
		{"2667 euro signs, 8001 bytes", "lim", strings.Repeat("€", 2667), listen.ErrPayloadTooLarge},
		{"63-byte channel", strings.Repeat("c", 63), "p", nil},
		{"64-byte channel", strings.Repeat("c", 64), "p", listen.ErrInvalidChannel},
		{"empty channel", "", "p", listen.ErrInvalidChannel},
		{"NUL in channel", "a\x00b", "p", listen.ErrInvalidChannel},
		{"quotes, spaces, dots", `we"ird.ch an`, "p", nil},
		{"mixed case", "MiXeD", "p", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := listen.Notify(ctx, db, tt.channel, tt.payload)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Notify: %v, want %v", err, tt.want)
			}
			s, err := l.Subscribe(ctx, tt.channel)
			if errors.Is(tt.want, listen.ErrInvalidChannel) {
				if !errors.Is(err, listen.ErrInvalidChannel) {
					t.Fatalf("Subscribe: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Unsubscribe(ctx)
			expectGap(t, s, listen.GapInitial)
			if tt.want != nil {
				return
			}
			notify(t, db, tt.channel, tt.payload)
			expectPayload(t, s, tt.payload)
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
		{"default jitter", []listen.Option{listen.WithBackoff(100*time.Millisecond, time.Second)}, 2, 100 * time.Millisecond, 200 * time.Millisecond},
		{"full jitter", []listen.Option{listen.WithBackoff(100*time.Millisecond, time.Second), listen.WithJitter(1)}, 30, 0, time.Second},
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

// TestSubscribeFuncStopsAfterUnsubscribe: events still queued when the subscription ends are
// not handed to the handler.
func TestSubscribeFuncStopsAfterUnsubscribe(t *testing.T) {
	node := shared(t)
	db := openDB(t, node.DSN())
	l := newListener(t, node.DSN())
	var calls atomic.Int32
	first, release := make(chan struct{}), make(chan struct{})
	sub, err := listen.SubscribeFunc(context.Background(), l, "stopfn", func(ctx context.Context, ev listen.Event) error {
		if ev.IsGap() {
			return nil
		}
		if calls.Add(1) == 1 {
			close(first)
			<-release // hold the handler while more notifications queue up
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		notify(t, db, "stopfn", itoa(i))
	}
	<-first
	waitFor(t, func() bool { return l.Stats().Received == 5 })
	if err := sub.Unsubscribe(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(release)
	<-sub.Done()
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler called for %d notifications, want 1 (the rest came after Unsubscribe)", n)
	}
}
