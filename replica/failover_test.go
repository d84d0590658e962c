package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/pgerror"
)

// failoverResult is what one failover run measured.
type failoverResult struct {
	detect     time.Duration // fault → primary marked down
	promote    time.Duration // the promotion itself (pg_promote with wait)
	resume     time.Duration // promote called → first successful write started after detection
	outage     time.Duration // fault → first successful write started after detection
	acked      int
	writeErrs  map[string]int
	readErrs   map[string]int
	firstErrs  map[string]string // class → first message
	reads      int64
	maxRead    time.Duration // slowest replica read: new sessions wait for a primary (see README)
	probesPerS float64       // probe rate per node

	c  *pgtest.Cluster
	db *sql.DB
	r  *Router
}

func errClass(err error) string {
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgerror.OutcomeUnknown):
		return "outcome_unknown"
	case errors.Is(err, ErrNoPrimary):
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

// runFailover takes the primary of a cluster with a synchronous standby away under write and
// read load (takeDown is (*pgtest.Node).Kill for a crash, (*pgtest.Node).Stop for a switchover),
// promotes the standby, re-points the other replica, and checks that writes resume through the
// same *sql.DB with no acknowledged write lost. The caller checks the error classes.
func runFailover(t *testing.T, takeDown func(*pgtest.Node, context.Context) error, opts ...Option) failoverResult {
	c := pgtest.New(t, pgtest.Options{Replicas: 2, SyncReplica: true})
	p0, n1, n2 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	primaryDSN := fmt.Sprintf("host=%s,%s port=%d,%d user=postgres dbname=postgres sslmode=disable target_session_attrs=read-write connect_timeout=2",
		p0.Host, n1.Host, p0.Port, n1.Port)
	db, r := open(t, primaryDSN, []string{n1.DSN(), n2.DSN()}, append([]Option{WithPrimaryWait(10 * time.Second)}, opts...)...)
	ctx := ctxT(t, 2*time.Minute)
	if _, err := db.ExecContext(ctx, "CREATE TABLE fo (id bigint PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	res := failoverResult{writeErrs: map[string]int{}, readErrs: map[string]int{}, firstErrs: map[string]string{}, c: c, db: db, r: r}
	var mu sync.Mutex
	var acked []int64
	var nextID atomic.Int64
	var detected atomic.Int64 // unix nanos when the primary was marked down
	firstWrite := make(chan time.Time, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	ins, err := db.PrepareContext(ctx, "INSERT INTO fo VALUES ($1)") // S13: a prepared statement across the failover
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ins.Close() })
	for g := 0; g < failoverWriters; g++ {
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
	for g := 0; g < 2; g++ {
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
				_, err := port(rctx, db)
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
	probes0, t0 := stat(r, name(n2)).Probes, time.Now()
	fault := time.Now()
	if err := takeDown(p0, ctx); err != nil {
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
		res.resume, res.outage = w.Sub(promoteStart), w.Sub(fault)
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
	res.probesPerS = float64(stat(r, name(n2)).Probes-probes0) / time.Since(t0).Seconds()
	res.acked, res.reads, res.maxRead = len(acked), reads.Load(), time.Duration(maxRead.Load())
	if p, ok := r.Primary(); !ok || p != name(n1) {
		t.Fatalf("router primary %q %v, want %s", p, ok, name(n1))
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

// checkErrors fails the test unless every write error has one of the classes of a write in
// flight when the primary went away, and no read failed (a replica was up throughout).
func checkErrors(t *testing.T, res failoverResult, inFlight ...string) {
	t.Helper()
	for class := range res.writeErrs {
		if !slices.Contains(inFlight, class) {
			t.Fatalf("write errors %v, want only %v (first: %v)", res.writeErrs, inFlight, res.firstErrs)
		}
	}
	if len(res.readErrs) != 0 {
		t.Fatalf("reads failed with replicas up: %v (first: %v)", res.readErrs, res.firstErrs)
	}
}

// S6: kill the primary, promote the synchronous standby, re-point the other replica; then S8
// on the same cluster: restart the old primary, which comes up as a second primary.
func TestFailoverS6SplitBrainS8(t *testing.T) {
	leakCheck(t)
	res := runFailover(t, (*pgtest.Node).Kill)
	t.Logf("detection %v, promote %v → first write %v (kill → first write %v), %d acknowledged writes (none lost), write errors %v, %d reads (slowest %v), read errors %v",
		res.detect, res.promote, res.resume, res.outage, res.acked, res.writeErrs, res.reads, res.maxRead, res.readErrs)
	checkErrors(t, res, "outcome_unknown") // only writes in flight at the kill may fail
	splitBrain(t, res)
}

// S7: a switchover. The primary stops cleanly (pg_ctl stop -m fast: it terminates its
// sessions with 57P01, writes a shutdown checkpoint and sends it to the standbys before it
// exits), the synchronous standby is promoted and the other replica follows it. As in S6,
// writes resume through the same *sql.DB, no acknowledged write is lost and no read fails;
// a write fails only when it was in flight at the stop: at most one per writer, with the
// class it gets when the connection is lost under it (outcome unknown) or when the server
// terminates it (57P01). Refused new connections (57P03, the server shutting down) and the
// wait for the promotion never reach the caller.
func TestSwitchoverS7(t *testing.T) {
	leakCheck(t)
	res := runFailover(t, (*pgtest.Node).Stop)
	t.Logf("stop → primary marked down %v, promote %v → first write %v; stop → first write %v; %d acknowledged writes (none lost), write errors %v, %d reads (slowest %v), read errors %v",
		res.detect, res.promote, res.resume, res.outage, res.acked, res.writeErrs, res.reads, res.maxRead, res.readErrs)
	checkErrors(t, res, "outcome_unknown", "57P01")
	if n := sum(res.writeErrs); n > failoverWriters {
		t.Fatalf("%d write errors for %d writers: more than the writes in flight at the stop (%v)", n, failoverWriters, res.firstErrs)
	}
}

// splitBrain is S8, on the cluster of a failover run: the old primary comes back as a
// primary on the old timeline while the promoted node runs. The Router keeps writing to the
// higher timeline only, new connections included.
func splitBrain(t *testing.T, res failoverResult) {
	p0, n1 := res.c.Nodes[0], res.c.Nodes[1]
	ctx := ctxT(t, time.Minute)
	if err := p0.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "old primary seen", func() bool {
		s := stat(res.r, name(p0))
		return s.Healthy && s.Role == RolePrimary
	})
	if p, ok := res.r.Primary(); !ok || p != name(n1) || res.r.SplitBrain() {
		t.Fatalf("primary %q %v split brain %v; want %s", p, ok, res.r.SplitBrain(), name(n1))
	}
	res.db.SetMaxIdleConns(0) // every write on a new connection: the DSN lists the old primary first
	for i := 0; i < 20; i++ {
		var p int
		if err := res.db.QueryRowContext(ctx, "INSERT INTO fo VALUES ($1) RETURNING inet_server_port()", -1-i).Scan(&p); err != nil {
			t.Fatal(err)
		}
		if p != n1.Port {
			t.Fatalf("write %d reached port %d during split brain, want %d", i, p, n1.Port)
		}
	}
}

func TestElect(t *testing.T) {
	mk := func(up bool, role Role, tl uint32) *node { return &node{up: up, role: role, timeline: tl} }
	for _, tc := range []struct {
		name  string
		nodes []*node
		want  int // index of the elected node, -1 for none
		split bool
	}{
		{"one primary", []*node{mk(true, RolePrimary, 1), mk(true, RoleStandby, 1)}, 0, false},
		{"primary down", []*node{mk(false, RolePrimary, 1), mk(true, RoleStandby, 1)}, -1, false},
		{"higher timeline wins", []*node{mk(true, RolePrimary, 1), mk(true, RolePrimary, 2)}, 1, false},
		{"tie fails closed", []*node{mk(true, RolePrimary, 2), mk(true, RolePrimary, 2), mk(true, RoleStandby, 2)}, -1, true},
		{"tie below a higher one", []*node{mk(true, RolePrimary, 1), mk(true, RolePrimary, 1), mk(true, RolePrimary, 3)}, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Router{nodes: tc.nodes, changed: make(chan struct{})}
			r.elect()
			var want *node
			if tc.want >= 0 {
				want = tc.nodes[tc.want]
			}
			if r.primary.Load() != want || r.splitBrain != tc.split {
				t.Fatalf("elected %p split %v, want %p split %v", r.primary.Load(), r.splitBrain, want, tc.split)
			}
		})
	}
}

func sum(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}
