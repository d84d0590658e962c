package replica

import (
	"context"
	"database/sql"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider/internal/faultproxy"
	"github.com/pgprovider/pgprovider/internal/pgtest"
)

func TestRingLag(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := func(ms int, lsn uint64) sample {
		return sample{t: t0.Add(time.Duration(ms) * time.Millisecond), lsn: lsn, insertLSN: lsn + 1}
	}
	var r ring
	for _, x := range []sample{s(0, 100), s(500, 100), s(1000, 200), s(1500, 300), s(2000, 300)} {
		r.push(x)
	}
	for _, tc := range []struct {
		name      string
		replay    uint64
		at        int
		wantBytes uint64
		wantLag   time.Duration
	}{
		{"caught up", 300, 2000, 0, 0},
		{"idle primary, caught up", 300, 2100, 0, 0},
		{"one step behind", 200, 2000, 100, 500 * time.Millisecond},
		{"far behind", 100, 2000, 200, time.Second},
		{"probe before the newest sample", 200, 1200, 0, 0},
		{"older than the ring", 50, 2000, 250, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, d := r.lag(tc.replay, t0.Add(time.Duration(tc.at)*time.Millisecond))
			if b != tc.wantBytes || d != tc.wantLag {
				t.Fatalf("lag(%d) = %d bytes, %v; want %d, %v", tc.replay, b, d, tc.wantBytes, tc.wantLag)
			}
		})
	}
	if lsn, ok := r.insertAfter(t0.Add(1200 * time.Millisecond).UnixNano()); !ok || lsn != 301 {
		t.Fatalf("insertAfter = %d, %v", lsn, ok)
	}
	if _, ok := r.insertAfter(t0.Add(3 * time.Second).UnixNano()); ok {
		t.Fatal("insertAfter found a sample after the newest")
	}
	r.push(s(2500, 10)) // a new primary on an older position resets the history
	if r.n != 1 {
		t.Fatalf("ring kept %d samples across a position going back", r.n)
	}
	for i := 0; i < 2*ringSize; i++ {
		r.push(s(3000+i, uint64(1000+i)))
	}
	if r.n != ringSize || r.at(0).lsn != uint64(1000+ringSize) {
		t.Fatalf("ring wrap: n=%d oldest=%d", r.n, r.at(0).lsn)
	}
}

// writeLoad keeps the primary writing until the test ends.
func writeLoad(t *testing.T, db *sql.DB, table string) {
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+table+" (id bigserial PRIMARY KEY, v text)"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil {
			_, _ = db.ExecContext(ctx, "INSERT INTO "+table+" (v) VALUES (repeat('x', 500))")
			select {
			case <-tick.C:
			case <-ctx.Done():
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// S2: a replica whose replay is paused is excluded once its lag passes the bound, and
// re-admitted after it catches up.
func TestLagExclusionS2(t *testing.T) {
	leakCheck(t)
	const maxLag = 400 * time.Millisecond
	c, db, r := sharedDB(t, WithMaxLag(maxLag))
	ctx := ctxT(t, 30*time.Second)
	n2 := c.Nodes[2]
	writeLoad(t, db, "s2")
	waitFor(t, 5*time.Second, "replica 2 eligible", func() bool { s := stat(r, name(n2)); return s.Healthy && s.Lag <= maxLag })
	if err := n2.PauseReplay(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n2.ResumeReplay(context.Background()) })
	d := waitFor(t, 5*time.Second, "replica 2 lagging", func() bool { return stat(r, name(n2)).Lag > maxLag })
	t.Logf("paused replica over the %v bound after %v (bound + interval + timeout = %v)", maxLag, d, maxLag+400*time.Millisecond)
	rctx := UseReplica(ctx)
	for i := 0; i < 50; i++ {
		if p, err := port(rctx, db); err != nil || p != c.Nodes[1].Port {
			t.Fatalf("read %d with replica 2 lagging ran on %d: %v", i, p, err)
		}
	}
	if st := stat(r, name(n2)); st.LagBytes == 0 || !st.Healthy {
		t.Fatalf("lagging replica: %+v", st)
	}
	for i := 0; i < 10; i++ { // a byte bound excludes it too, even under a loose time bound
		// Replica 1 may trail the write load by a few bytes as well: the read then falls back
		// to the primary. Either is right; the paused replica never is.
		if p, err := port(MaxStalenessBytes(MaxStaleness(rctx, time.Hour), 1), db); err != nil || p == n2.Port {
			t.Fatalf("read with a 1-byte bound on %d: %v", p, err)
		}
	}
	// A per-read bound looser than the lag admits it again.
	seen := false
	for i := 0; i < 10 && !seen; i++ {
		p, err := port(MaxStaleness(rctx, time.Hour), db)
		if err != nil {
			t.Fatal(err)
		}
		seen = p == n2.Port
	}
	if !seen {
		t.Fatal("MaxStaleness(1h) never used the lagging replica")
	}
	if err := n2.ResumeReplay(ctx); err != nil {
		t.Fatal(err)
	}
	d = waitFor(t, 5*time.Second, "replica 2 back", func() bool { return stat(r, name(n2)).Lag <= maxLag })
	t.Logf("re-admitted %v after resume", d)
	seen = false
	for i := 0; i < 10 && !seen; i++ {
		p, err := port(rctx, db)
		if err != nil {
			t.Fatal(err)
		}
		seen = p == n2.Port
	}
	if !seen {
		t.Fatal("replica 2 not used after catching up")
	}
}

// S3: an idle primary marks no replica as lagging, where the replay-timestamp method does.
func TestIdlePrimaryS3(t *testing.T) {
	leakCheck(t)
	c, _, r := sharedDB(t, WithMaxLag(500*time.Millisecond))
	ctx := ctxT(t, 30*time.Second)
	if err := c.Nodes[0].Exec(ctx, "CREATE TABLE IF NOT EXISTS s3 (id int)"); err != nil {
		t.Fatal(err)
	}
	if err := c.Nodes[0].Exec(ctx, "INSERT INTO s3 VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	idle := 2 * time.Second
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var worst time.Duration
	for end := time.Now().Add(idle); time.Now().Before(end); <-tick.C {
		for _, n := range c.Nodes[1:] {
			st := stat(r, name(n))
			worst = max(worst, st.Lag)
			if !st.Healthy || st.Lag > 200*time.Millisecond {
				t.Fatalf("idle primary: replica %s marked lagging: %+v", st.Name, st)
			}
		}
	}
	var naive float64
	if err := c.Nodes[1].QueryRow(ctx, "SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8").Scan(&naive); err != nil {
		t.Fatal(err)
	}
	t.Logf("after %v idle: worst monitor lag %v; now()-pg_last_xact_replay_timestamp() = %.2fs", idle, worst, naive)
}

// S4: a replica killed under read load loses no read: each is retried on another node.
func TestKilledReplicaS4(t *testing.T) {
	leakCheck(t)
	c, db, r := sharedDB(t)
	n1 := c.Nodes[1]
	ctx := ctxT(t, 60*time.Second)
	t.Cleanup(func() {
		if !n1.Running() {
			_ = n1.Start(context.Background())
		}
	})
	var reads, fails atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx := UseReplica(ctx)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := port(rctx, db); err != nil {
					fails.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
				reads.Add(1)
			}
		}()
	}
	waitFor(t, 5*time.Second, "reads under way", func() bool { return reads.Load() > 50 })
	kill := time.Now()
	if err := n1.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "replica 1 down", func() bool { return !stat(r, name(n1)).Healthy })
	detect := time.Since(kill)
	before := reads.Load()
	waitFor(t, 5*time.Second, "more reads", func() bool { return reads.Load() > before+50 })
	close(stop)
	wg.Wait()
	t.Logf("%d reads, %d failed; replica marked down %v after the kill", reads.Load(), fails.Load(), detect)
	if fails.Load() != 0 {
		t.Fatalf("%d reads failed, first: %v", fails.Load(), firstErr.Load())
	}
	if err := n1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	d := waitFor(t, 10*time.Second, "replica 1 back", func() bool { return stat(r, name(n1)).Healthy })
	t.Logf("re-admitted %v after restart", d)
}

// S5: a frozen replica (SIGSTOP) keeps read p99 under the per-attempt timeout.
func TestFrozenReplicaS5(t *testing.T) {
	leakCheck(t)
	const attempt = 300 * time.Millisecond
	c, db, r := sharedDB(t, WithReadTimeout(attempt))
	n1 := c.Nodes[1]
	ctx := ctxT(t, 60*time.Second)
	var mu sync.Mutex
	var lat []time.Duration
	var fails atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx := UseReplica(ctx)
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				if _, err := port(rctx, db); err != nil {
					fails.Add(1)
				}
				mu.Lock()
				lat = append(lat, time.Since(start))
				mu.Unlock()
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(lat) }
	waitFor(t, 5*time.Second, "reads under way", func() bool { return count() > 100 })
	if err := n1.Freeze(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n1.Thaw() })
	waitFor(t, 5*time.Second, "frozen replica down", func() bool { return !stat(r, name(n1)).Healthy })
	before := count()
	waitFor(t, 10*time.Second, "more reads", func() bool { return count() > before+500 })
	close(stop)
	wg.Wait()
	mu.Lock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p99, worst := lat[len(lat)*99/100], lat[len(lat)-1]
	n := len(lat)
	mu.Unlock()
	t.Logf("%d reads, %d failed: p99 %v, max %v (attempt timeout %v)", n, fails.Load(), p99, worst, attempt)
	if fails.Load() != 0 || p99 >= attempt {
		t.Fatalf("frozen replica: %d failed reads, p99 %v", fails.Load(), p99)
	}
	if err := n1.Thaw(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "replica 1 back", func() bool { return stat(r, name(n1)).Healthy })
}

// S16: a replica whose network flaps faster than the hysteresis changes health a bounded
// number of times, and reads never fail.
func TestFlappingReplicaS16(t *testing.T) {
	leakCheck(t)
	c := pgtest.Shared(t)
	px, err := faultproxy.New(name(c.Nodes[1]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	// rise 5 at a 100 ms interval needs 400 ms of good probes: far longer than a 150 ms good
	// spell, even when a loaded machine delays probes.
	db, r := open(t, c.Nodes[0].DSN(), []string{c.Nodes[1].DSN("port", strconv.Itoa(px.Port())), c.Nodes[2].DSN()}, WithHysteresis(2, 5))
	ctx := UseReplica(ctxT(t, 20*time.Second))
	pxName := hostPort(px.Host(), uint16(px.Port()))
	flip := time.NewTicker(150 * time.Millisecond)
	defer flip.Stop()
	flips := 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		select {
		case <-flip.C:
			if flips%2 == 0 {
				px.SetMode(faultproxy.Refuse)
				px.ResetAll()
			} else {
				px.SetMode(faultproxy.Pass)
			}
			flips++
		default:
		}
		if _, err := port(ctx, db); err != nil {
			t.Fatalf("read failed while the replica flapped: %v", err)
		}
	}
	px.SetMode(faultproxy.Pass)
	st := stat(r, pxName)
	t.Logf("%d network flips: %d health transitions, %d probes (%d failed)", flips, st.Transitions, st.Probes, st.ProbeFailures)
	if st.Transitions > 2 || st.Transitions > uint64(flips)/4 {
		t.Fatalf("%d health transitions for %d flips: hysteresis does not hold", st.Transitions, flips)
	}
	waitFor(t, 5*time.Second, "flapping replica back", func() bool { return stat(r, pxName).Healthy })
}
