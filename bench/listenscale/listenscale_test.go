package listenscale

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/pgprovider/pgprovider/bench/internal/suite"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/listen"
)

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, pgtest.Options{}))
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func name(i int) string { return "ch" + strconv.Itoa(i) }

// subscriber is one way of LISTENing on many channels; open connects (untimed) and returns
// a function that LISTENs one channel and returns once it is acknowledged.
type subscriber struct {
	name       string
	concurrent bool // sub may be called from several goroutines
	open       func(ctx context.Context, dsn string) (sub func(ctx context.Context, ch string) error, pid int, close func(), err error)
}

// rawPgx is the floor: LISTEN "chN" on one pgx connection, one statement per round trip.
func rawPgx(ctx context.Context, dsn string) (func(context.Context, string) error, int, func(), error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, 0, nil, err
	}
	// The first LISTEN of a backend registers it with the notification queue: not part of
	// the figures, as the listener's warm-up Subscribe.
	if _, err := conn.Exec(ctx, "LISTEN warm"); err != nil {
		return nil, 0, nil, errors.Join(err, conn.Close(ctx))
	}
	return func(ctx context.Context, ch string) error {
			_, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize())
			return err
		}, int(conn.PgConn().PID()), func() {
			_ = conn.Close(context.Background())
		}, nil
}

func newListen(ctx context.Context, dsn string) (func(context.Context, string) error, int, func(), error) {
	l, err := listen.New(dsn)
	if err != nil {
		return nil, 0, nil, err
	}
	if _, err := l.Subscribe(ctx, "warm"); err != nil { // the dial is not part of the figures
		return nil, 0, nil, errors.Join(err, l.Close(ctx))
	}
	return func(ctx context.Context, ch string) error {
			_, err := l.Subscribe(ctx, ch)
			return err
		}, int(l.Stats().BackendPID), func() {
			_ = l.Close(context.Background())
		}, nil
}

// timeSubscribes opens s and times n subscriptions, one after another or from 8 goroutines.
// With pin >= 0 the connection's server backend is pinned to that CPU (as the process is).
func timeSubscribes(ctx context.Context, dsn string, s subscriber, n int, parallel bool, pin int) (time.Duration, error) {
	sub, pid, closeFn, err := s.open(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer closeFn()
	if pin >= 0 {
		if err := suite.PinPIDs([]int{pid}, pin); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	if !parallel {
		for i := range n {
			if err := sub(ctx, name(i)); err != nil {
				return 0, err
			}
		}
		return time.Since(start), nil
	}
	const workers = 8
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if err := sub(ctx, name(i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return d, nil
}

type cell struct {
	name     string
	parallel bool
	s        subscriber
	runs     []time.Duration
}

func best(d []time.Duration) time.Duration { return slices.Min(d) }

func machine(ctx context.Context, dsn string) string {
	version := "?"
	if conn, err := pgx.Connect(ctx, dsn); err == nil {
		_ = conn.QueryRow(ctx, "SHOW server_version").Scan(&version)
		_ = conn.Close(ctx)
	}
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("PostgreSQL %s, %s, %d vCPU (%s), GOMAXPROCS %d, %s/%s; load average at start %s",
		version, runtime.Version(), runtime.NumCPU(), cpu, runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, load)
}

// TestListenScale measures subscribing at several channel counts against raw LISTEN on a pgx
// connection, the re-LISTEN after a lost connection and the memory per subscription. Each round runs every case once, each round in
// another order; the best of the rounds is reported. With PGPROVIDER_MEASURE=1: 10, 1 000 and
// 10 000 channels (LISTEN_SCALE_MAX), 3 rounds (LISTEN_ROUNDS), 5 kills; otherwise 10 and 300
// channels, one round, one kill, with bounds that catch a collapse only.
func TestListenScale(t *testing.T) {
	measure := os.Getenv("PGPROVIDER_MEASURE") == "1"
	sizes, rounds, kills := []int{10, 300}, 1, 1
	if measure {
		top := envInt("LISTEN_SCALE_MAX", 10000)
		sizes, rounds, kills = []int{10, 1000, top}, envInt("LISTEN_ROUNDS", 3), 5
	}
	dsn := os.Getenv("BENCH_DSN")
	if dsn == "" {
		dsn = pgtest.Shared(t).Primary().DSN()
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var out strings.Builder
	fmt.Fprintf(&out, "%s.\n\n", machine(ctx, dsn))
	// As bench/run.sh does for time ratios: this process (GOMAXPROCS 1) and the server backend
	// of the connection being timed on one CPU, when the server is local (LISTEN_PIN=0: off).
	pin := -1
	if measure && os.Getenv("BENCH_DSN") == "" && os.Getenv("LISTEN_PIN") != "0" {
		pin = 0
		if err := suite.PinProcess(pin); err != nil {
			t.Fatal(err)
		}
		out.WriteString("Pinned: this process (GOMAXPROCS 1) and the timed connection's server backend on CPU 0.\n\n")
	}

	raw := subscriber{name: "raw LISTEN on one pgx.Conn, one per round trip", open: rawPgx}
	ours := subscriber{name: "listen Subscribe", concurrent: true, open: newListen}
	fmt.Fprintf(&out, "Subscribe, best of %d interleaved rounds (%d for 10 channels; total time for n channels; ×: against raw LISTEN):\n\n", rounds, 10*rounds)
	out.WriteString("| n | raw LISTEN | Subscribe, one after another | ×raw | Subscribe, 8 goroutines | ×raw |\n")
	out.WriteString("|---:|---:|---:|---:|---:|---:|\n")
	for _, n := range sizes {
		cells := []*cell{
			{name: "raw", s: raw}, {name: "seq", s: ours}, {name: "par", s: ours, parallel: true},
		}
		nr := rounds
		if n <= 10 {
			nr = 10 * rounds // a few milliseconds each
		}
		for r := range nr {
			for k := range cells {
				c := cells[(k+r)%len(cells)]
				d, err := timeSubscribes(ctx, dsn, c.s, n, c.parallel, pin)
				if err != nil {
					t.Fatalf("%s, %d channels: %v", c.name, n, err)
				}
				c.runs = append(c.runs, d)
			}
		}
		floor := best(cells[0].runs)
		fmt.Fprintf(&out, "| %d | %v |", n, floor.Round(time.Microsecond))
		for _, c := range cells[1:] {
			b := best(c.runs)
			fmt.Fprintf(&out, " %v | ×%.2f |", b.Round(time.Microsecond), float64(b)/float64(floor))
		}
		out.WriteString("\n")
		if !measure {
			// Smoke: only a collapse fails (a loaded CI machine spreads round trips widely).
			if b := best(cells[1].runs); float64(b) > 5*float64(floor) && b > 50*time.Millisecond {
				t.Errorf("%d Subscribes took %v, raw LISTEN %v", n, b, floor)
			}
		}
	}

	top := sizes[len(sizes)-1]
	out.WriteString("\n")
	relisten(t, ctx, dsn, top, kills, measure, &out)
	out.WriteString("\n")
	memory(t, ctx, dsn, top, measure, &out)

	if measure {
		fmt.Print("\n", out.String(), "\n")
	} else {
		t.Log("\n" + out.String())
	}
}

// relisten subscribes n channels, kills the listener's backend and measures the time to the
// new connection with every channel LISTENed (the state hook) and to the last subscription's
// reconnect gap read by the test.
func relisten(t *testing.T, ctx context.Context, dsn string, n, kills int, measure bool, out *strings.Builder) {
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	states := make(chan listen.State, 64)
	l, err := listen.New(dsn, listen.WithStateHook(func(s listen.State) {
		if s.Connected {
			states <- s
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	subs := make([]*listen.Subscription, n)
	for i := range subs {
		if subs[i], err = l.Subscribe(ctx, name(i)); err != nil {
			t.Fatal(err)
		}
		<-subs[i].C() // the initial gap
	}
	<-states
	var connected, gapped []time.Duration
	for range kills {
		pid := l.Stats().BackendPID
		start := time.Now()
		if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", int64(pid)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-states:
			connected = append(connected, time.Since(start))
		case <-time.After(time.Minute):
			t.Fatal("no reconnect within a minute")
		}
		for _, s := range subs {
			if ev := <-s.C(); ev.Gap == nil || ev.Gap.Reason != listen.GapReconnect {
				t.Fatalf("got %+v, want a reconnect gap", ev)
			}
		}
		gapped = append(gapped, time.Since(start))
	}
	fmt.Fprintf(out, "Re-LISTEN after pg_terminate_backend of the listener's backend, %d channels (one subscription each), %d kills: "+
		"kill → connected with every channel LISTENed: best %v, median %v; kill → the last subscription's reconnect gap read: best %v, median %v.\n",
		n, kills, best(connected).Round(time.Millisecond/10), median(connected).Round(time.Millisecond/10),
		best(gapped).Round(time.Millisecond/10), median(gapped).Round(time.Millisecond/10))
	if !measure && median(gapped) > 10*time.Second {
		t.Errorf("re-LISTEN of %d channels took %v", n, median(gapped))
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

type memStats struct {
	heap, stack uint64
	goroutines  int
}

func snapshot() memStats {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memStats{heap: m.HeapAlloc, stack: m.StackInuse, goroutines: runtime.NumGoroutine()}
}

// memory measures the heap, stack and goroutines that n idle subscriptions add, with their
// initial gap still in C and after the subscriber read it.
func memory(t *testing.T, ctx context.Context, dsn string, n int, measure bool, out *strings.Builder) {
	measureOne := func(open func() (sub func(string) (func(), error), close func(), err error)) (withGap, idle, base memStats) {
		sub, closeFn, err := open()
		if err != nil {
			t.Fatal(err)
		}
		defer closeFn()
		drains := make([]func(), 0, n)
		base = snapshot()
		for i := range n {
			d, err := sub(name(i))
			if err != nil {
				t.Fatal(err)
			}
			drains = append(drains, d)
		}
		withGap = snapshot()
		for _, d := range drains {
			d()
		}
		idle = snapshot()
		runtime.KeepAlive(drains)
		return withGap, idle, base
	}
	ours := func() (func(string) (func(), error), func(), error) {
		l, err := listen.New(dsn)
		if err != nil {
			return nil, nil, err
		}
		if _, err := l.Subscribe(ctx, "warm"); err != nil {
			return nil, nil, err
		}
		return func(ch string) (func(), error) {
			s, err := l.Subscribe(ctx, ch)
			if err != nil {
				return nil, err
			}
			return func() { <-s.C() }, nil
		}, func() { _ = l.Close(context.Background()) }, nil
	}
	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	fmt.Fprintf(out, "Memory of %d subscriptions on distinct channels (runtime.ReadMemStats after GC, before and after subscribing; default buffer):\n\n", n)
	out.WriteString("| listener | heap per subscription, initial gap unread | heap per subscription, idle | goroutine stacks per subscription | goroutines added |\n|---|---:|---:|---:|---:|\n")
	for _, c := range []struct {
		name string
		open func() (func(string) (func(), error), func(), error)
		ours bool
	}{{"listen", ours, true}} {
		withGap, idle, base := measureOne(c.open)
		fmt.Fprintf(out, "| %s | %.0f B | %.0f B | %.0f B | %d |\n", c.name, per(withGap.heap, base.heap), per(idle.heap, base.heap),
			per(idle.stack, base.stack), idle.goroutines-base.goroutines)
		if c.ours {
			if b := per(idle.heap, base.heap); b > 2048 {
				t.Errorf("%.0f bytes of heap per idle subscription, want at most 2048", b)
			}
			if g := idle.goroutines - base.goroutines; g > 0 {
				t.Errorf("%d goroutines for %d idle subscriptions", g, n)
			}
		}
	}
}
