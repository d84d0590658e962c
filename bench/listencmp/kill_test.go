package listencmp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/listen"
)

// killable is a listener with one subscription whose backend a test can terminate.
type killable struct {
	pid      func() uint32               // the backend of the current connection
	awaitGap func(context.Context) error // the next event must be a reconnect gap
	stop     func(context.Context) error
}

type killCandidate struct {
	name  string
	start func(ctx context.Context, dsn, channel string) (*killable, error)
}

func killCandidates() []killCandidate {
	return []killCandidate{{"pgprovider listen", startKillNew}}
}

// The listener reconnects at once after a lost connection (the first dial after it is
// immediate), so the backoff settings do not enter the figures.

func startKillNew(ctx context.Context, dsn, channel string) (*killable, error) {
	l, err := listen.New(dsn)
	if err != nil {
		return nil, err
	}
	sub, err := l.Subscribe(ctx, channel)
	if err != nil {
		return nil, errors.Join(err, l.Close(ctx))
	}
	next := func(ctx context.Context) (listen.Event, error) {
		select {
		case ev := <-sub.C():
			return ev, nil
		case <-ctx.Done():
			return listen.Event{}, ctx.Err()
		}
	}
	if ev, err := next(ctx); err != nil || ev.Gap == nil || ev.Gap.Reason != listen.GapInitial {
		return nil, errors.Join(fmt.Errorf("first event %+v %v, want the initial gap", ev, err), l.Close(ctx))
	}
	return &killable{
		pid: func() uint32 { return l.Stats().BackendPID },
		awaitGap: func(ctx context.Context) error {
			ev, err := next(ctx)
			if err == nil && (ev.Gap == nil || ev.Gap.Reason != listen.GapReconnect) {
				err = fmt.Errorf("got %+v, want a reconnect gap", ev)
			}
			return err
		},
		stop: l.Close,
	}, nil
}

// TestKillToGap measures the time from pg_terminate_backend on the listener's backend (the
// call's start, on an open admin connection) to the reconnect gap at the subscriber: the
// error seen, a new connection dialed and authenticated, LISTEN acknowledged on it, the gap
// handed over. With several candidates the kills alternate between them. With PGPROVIDER_MEASURE=1 it
// takes LISTEN_KILLS (default 100) kills per listener and prints a markdown table; otherwise
// 5 each, as a smoke test.
func TestKillToGap(t *testing.T) {
	measure := os.Getenv("PGPROVIDER_MEASURE") == "1"
	kills := 5
	if measure {
		kills = envInt("LISTEN_KILLS", 100)
	}
	dsn := os.Getenv("BENCH_DSN")
	if dsn == "" {
		dsn = pgtest.Shared(t).Primary().DSN()
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)

	cands := killCandidates()
	ls := make([]*killable, len(cands))
	for i, c := range cands {
		k, err := c.start(ctx, dsn, fmt.Sprintf("kill_%d", i))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		defer func() {
			if err := k.stop(context.Background()); err != nil {
				t.Errorf("%s: close: %v", c.name, err)
			}
		}()
		ls[i] = k
	}
	lat := make([][]time.Duration, len(cands))
	for range kills {
		for i, c := range cands {
			pid := ls[i].pid()
			if pid == 0 {
				t.Fatalf("%s: no backend", c.name)
			}
			start := time.Now()
			var ok bool
			if err := admin.QueryRow(ctx, "SELECT pg_terminate_backend($1)", int64(pid)).Scan(&ok); err != nil || !ok {
				t.Fatalf("%s: terminate %d: %v %v", c.name, pid, ok, err)
			}
			wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
			err := ls[i].awaitGap(wctx)
			wcancel()
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			lat[i] = append(lat[i], time.Since(start))
		}
	}
	// The floor: a new connection is most of a reconnect (a backend forked, authenticated).
	var connects []time.Duration
	for range 20 {
		start := time.Now()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		connects = append(connects, time.Since(start))
		_ = c.Close(ctx)
	}
	slices.Sort(connects)
	var b strings.Builder
	fmt.Fprintf(&b, "Kill to gap: %d kills per listener, alternating. For comparison, a plain pgx.Connect to the same server: p50 %s, max %s (20 connects).\n\n",
		kills, micros(percentile(connects, 0.5)), micros(connects[len(connects)-1]))
	b.WriteString("| listener | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|\n")
	for i, c := range cands {
		s := slices.Clone(lat[i])
		slices.Sort(s)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", c.name, micros(percentile(s, 0.5)), micros(percentile(s, 0.9)),
			micros(percentile(s, 0.99)), micros(s[len(s)-1]))
	}
	if measure {
		fmt.Print("\n", b.String(), "\n")
	} else {
		t.Log("\n" + b.String())
	}
}
