package replicabench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/pgerror"
	"github.com/pgprovider/pgprovider/replica"
)

// failoverResult is what one failover run measured.
type failoverResult struct {
	detect     time.Duration // kill → primary marked down
	promote    time.Duration // the promotion itself (pg_promote with wait)
	resume     time.Duration // promote called → first successful write started after detection
	acked      int
	writeErrs  map[string]int
	readErrs   map[string]int
	firstErrs  map[string]string // class → first message
	reads      int64
	maxRead    time.Duration // slowest replica read
	probesPerS float64       // probe rate per node
}

func errClass(err error) string {
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgerror.OutcomeUnknown):
		return "outcome_unknown"
	case errors.Is(err, replica.ErrNoPrimary):
		return "no_primary"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &pgErr):
		return pgErr.Code
	case pgerror.Classify(err).Connection():
		return "connection"
	}
	return "other: " + err.Error()
}

// failoverWriters is the number of goroutines writing during a failover run.
const failoverWriters = 4

// runFailover kills the primary of a new cluster with a synchronous standby under write and
// read load (the monitor at its default interval and timeout), promotes the standby,
// re-points the other replica, and checks that writes resume through the same *sql.DB with
// no acknowledged write lost. The behaviour itself is tested in package replica
// (TestFailoverS6SplitBrainS8); this measures its times.
func runFailover(t *testing.T) failoverResult {
	c := pgtest.New(t, pgtest.Options{Replicas: 2, SyncReplica: true})
	p0, n1, n2 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	primaryDSN := fmt.Sprintf("host=%s,%s port=%d,%d user=postgres dbname=postgres sslmode=disable target_session_attrs=read-write connect_timeout=2",
		p0.Host, n1.Host, p0.Port, n1.Port)
	db, r := openRouted(t, primaryDSN, []string{n1.DSN(), n2.DSN()},
		replica.WithProbeInterval(500*time.Millisecond), replica.WithProbeTimeout(400*time.Millisecond), replica.WithPrimaryWait(10*time.Second))
	ctx := ctxT(t, 2*time.Minute)
	if _, err := db.ExecContext(ctx, "CREATE TABLE fo (id bigint PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	res := failoverResult{writeErrs: map[string]int{}, readErrs: map[string]int{}, firstErrs: map[string]string{}}
	var mu sync.Mutex
	var acked []int64
	var nextID, detected atomic.Int64 // detected: unix nanos when the primary was marked down
	firstWrite := make(chan time.Time, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	ins, err := db.PrepareContext(ctx, "INSERT INTO fo VALUES ($1)") // a prepared statement across the failover
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ins.Close() })
	for g := range failoverWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := nextID.Add(1)
				start := time.Now().UnixNano()
				var err error
				if g%2 == 0 {
					_, err = db.ExecContext(ctx, "INSERT INTO fo VALUES ($1)", id)
				} else {
					_, err = ins.ExecContext(ctx, id)
				}
				mu.Lock()
				if err != nil {
					res.writeErrs[errClass(err)]++
					if _, ok := res.firstErrs[errClass(err)]; !ok {
						res.firstErrs[errClass(err)] = err.Error()
					}
				} else {
					acked = append(acked, id)
					if d := detected.Load(); d != 0 && start > d {
						select {
						case firstWrite <- time.Now():
						default:
						}
					}
				}
				mu.Unlock()
			}
		}()
	}
	var reads, maxRead atomic.Int64
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx := replica.UseReplica(ctx)
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				var p int
				err := db.QueryRowContext(rctx, "SELECT inet_server_port()").Scan(&p)
				if d := time.Since(start); d > time.Duration(maxRead.Load()) {
					maxRead.Store(int64(d))
				}
				if err != nil {
					mu.Lock()
					res.readErrs[errClass(err)]++
					res.firstErrs["read "+errClass(err)] = err.Error()
					mu.Unlock()
				}
				reads.Add(1)
			}
		}()
	}
	waitFor(t, 10*time.Second, "writes under way", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) > 20 })
	probes0, t0 := stat(r, nodeName(n2)).Probes, time.Now()
	fault := time.Now()
	if err := p0.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "primary marked down", func() bool { _, ok := r.Primary(); return !ok })
	res.detect = time.Since(fault)
	detected.Store(time.Now().UnixNano())
	promoteStart := time.Now()
	if err := n1.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	res.promote = time.Since(promoteStart)
	select {
	case w := <-firstWrite:
		res.resume = w.Sub(promoteStart)
	case <-time.After(20 * time.Second):
		t.Fatal("no write succeeded within 20 s of the promotion")
	}
	if err := n2.Follow(ctx, n1); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	waitFor(t, 10*time.Second, "writes after follow", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) > n+20 })
	close(stop)
	wg.Wait()
	res.probesPerS = float64(stat(r, nodeName(n2)).Probes-probes0) / time.Since(t0).Seconds()
	res.acked, res.reads, res.maxRead = len(acked), reads.Load(), time.Duration(maxRead.Load())
	if p, ok := r.Primary(); !ok || p != nodeName(n1) {
		t.Fatalf("router primary %q %v, want %s", p, ok, nodeName(n1))
	}
	var missing int
	if err := n1.QueryRow(ctx, "SELECT count(*) FROM unnest($1::bigint[]) a(id) WHERE NOT EXISTS (SELECT 1 FROM fo WHERE fo.id = a.id)", acked).Scan(&missing); err != nil {
		t.Fatal(err)
	}
	if missing != 0 {
		t.Fatalf("%d of %d acknowledged writes lost in the failover", missing, len(acked))
	}
	return res
}

// idleDetection kills and restarts the shared cluster's primary runs times with no client
// traffic, and returns the times from kill to the primary marked down, and the probe rate of
// the replica while everything is healthy.
func idleDetection(t *testing.T, c *pgtest.Cluster, runs int) ([]time.Duration, float64) {
	_, r := openRouted(t, c.Nodes[0].DSN(), []string{c.Nodes[1].DSN()},
		replica.WithProbeInterval(500*time.Millisecond), replica.WithProbeTimeout(400*time.Millisecond))
	p0 := c.Nodes[0]
	ctx := ctxT(t, 10*time.Minute)
	probes0, t0 := stat(r, nodeName(c.Nodes[1])).Probes, time.Now()
	waitFor(t, 10*time.Second, "steady state", func() bool { return time.Since(t0) > 3*time.Second })
	rate := float64(stat(r, nodeName(c.Nodes[1])).Probes-probes0) / time.Since(t0).Seconds()
	var out []time.Duration
	for range runs {
		waitFor(t, 20*time.Second, "primary up", func() bool { _, ok := r.Primary(); return ok })
		kill := time.Now()
		if err := p0.Kill(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "primary marked down", func() bool { _, ok := r.Primary(); return !ok })
		out = append(out, time.Since(kill))
		if err := p0.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "primary up", func() bool { _, ok := r.Primary(); return ok })
	return out, rate
}

// readOnce runs the replica read k times on db under ctx and returns the time per read.
func readOnce(tb testing.TB, db *sql.DB, ctx context.Context, k int) float64 {
	var x int
	start := time.Now()
	for range k {
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&x); err != nil {
			tb.Fatal(err)
		}
	}
	return float64(time.Since(start).Nanoseconds()) / float64(k)
}
