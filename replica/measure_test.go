package replica

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
)

// TestMeasure prints the figures of the replica work: failover over 20 runs with the default
// monitor settings, probe rate, and routing overhead against raw pgx stdlib. It runs only with
// PGPROVIDER_MEASURE=1 (it takes minutes).
func TestMeasure(t *testing.T) {
	if os.Getenv("PGPROVIDER_MEASURE") != "1" {
		t.Log("set PGPROVIDER_MEASURE=1 to measure")
		return
	}
	var out strings.Builder
	fmt.Fprintf(&out, "## replica (%s)\n\n", time.Now().UTC().Format(time.DateOnly))
	runs := 20
	var detect, resume, promote, slowRead []time.Duration
	writeErrs, readErrs := map[string]int{}, map[string]int{}
	var reads int64
	var runLog strings.Builder
	var rate float64
	for i := 0; i < runs; i++ {
		t.Run(fmt.Sprint("failover", i), func(t *testing.T) {
			res := runFailover(t, (*pgtest.Node).Kill, WithProbeInterval(500*time.Millisecond), WithProbeTimeout(400*time.Millisecond))
			detect, resume, promote = append(detect, res.detect), append(resume, res.resume), append(promote, res.promote)
			for k, v := range res.writeErrs {
				writeErrs[k] += v
			}
			for k, v := range res.readErrs {
				readErrs[k] += v
			}
			reads += res.reads
			slowRead = append(slowRead, res.maxRead)
			rate += res.probesPerS / float64(runs)
			fmt.Fprintf(&runLog, "run %2d: detect %v, promote %v, first write %v, write errors %v, read errors %v %v\n",
				i, res.detect.Round(time.Millisecond), res.promote.Round(time.Millisecond), res.resume.Round(time.Millisecond), res.writeErrs, res.readErrs, res.firstErrs)
		})
	}
	fmt.Fprintf(&out, "Failover, %d runs (primary + synchronous standby + async standby; probe interval 500 ms, timeout 400 ms, fall 2; 4 writers, 2 replica readers):\n\n", runs)
	fmt.Fprintf(&out, "| figure | median | max |\n|---|---|---|\n")
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"kill → primary marked down", detect}, {"pg_promote (wait) itself", promote}, {"promote called → first successful write", resume}, {"slowest replica read during the run", slowRead}} {
		p50, mx := medMax(m.d)
		fmt.Fprintf(&out, "| %s | %v | %v |\n", m.name, p50.Round(time.Millisecond), mx.Round(time.Millisecond))
	}
	fmt.Fprintf(&out, "\nClient errors over all runs: writes %v; reads %v of %d (reads lost with a replica up: %d). No acknowledged write lost.\n", writeErrs, readErrs, reads, sum(readErrs))
	fmt.Fprintf(&out, "Probe rate per node during the runs: %.2f probes/s.\n\nPer run:\n\n```\n%s```\n\n", rate, runLog.String())

	c := pgtest.Shared(t)
	idle, rateIdle := idleDetection(t, c, runs)
	p50, mx := medMax(idle)
	fmt.Fprintf(&out, "Idle client (no statement in flight), %d kills of the primary with -m immediate: kill → primary marked down median %v, max %v.\n",
		runs, p50.Round(time.Millisecond), mx.Round(time.Millisecond))
	fmt.Fprintf(&out, "Steady-state probe rate per node (healthy cluster, 500 ms interval): %.2f probes/s.\n\n", rateIdle)

	raw, err := sql.Open("pgx", c.Nodes[1].DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	db, _ := open(t, c.Nodes[0].DSN(), []string{c.Nodes[1].DSN()}, WithProbeInterval(500*time.Millisecond))
	ctx := UseReplica(context.Background())
	bench := func(db *sql.DB, ctx context.Context) testing.BenchmarkResult {
		return testing.Benchmark(func(b *testing.B) { benchRead(b, db, ctx) })
	}
	best := func(f func() testing.BenchmarkResult) testing.BenchmarkResult {
		var r testing.BenchmarkResult
		for i := 0; i < 5; i++ {
			if x := f(); i == 0 || x.NsPerOp() < r.NsPerOp() {
				r = x
			}
		}
		return r
	}
	rr := best(func() testing.BenchmarkResult { return bench(raw, context.Background()) })
	rt := best(func() testing.BenchmarkResult { return bench(db, ctx) })
	fmt.Fprintf(&out, "Replica read `SELECT 1` (fastest of 5, unpinned):\n\n| path | ns/op | allocs/op | B/op |\n|---|---|---|---|\n")
	fmt.Fprintf(&out, "| raw pgx stdlib on the replica | %d | %d | %d |\n", rr.NsPerOp(), rr.AllocsPerOp(), rr.AllocedBytesPerOp())
	fmt.Fprintf(&out, "| pgprovider + replica.Router, UseReplica | %d | %d | %d |\n", rt.NsPerOp(), rt.AllocsPerOp(), rt.AllocedBytesPerOp())
	fmt.Fprintf(&out, "\nratio %.3f\n", float64(rt.NsPerOp())/float64(rr.NsPerOp()))
	fmt.Println(out.String())
}

// BenchmarkReplicaRead reads through the Router from a replica.
func BenchmarkReplicaRead(b *testing.B) {
	c := pgtest.Shared(b)
	r, err := New([]string{c.Nodes[1].DSN()}, WithPrimary(c.Nodes[0].DSN()))
	if err != nil {
		b.Fatal(err)
	}
	ctr, err := pgprovider.NewConnector(c.Nodes[0].DSN(), pgprovider.WithMiddleware(r))
	if err != nil {
		b.Fatal(err)
	}
	db := sql.OpenDB(ctr)
	defer db.Close()
	b.ReportAllocs()
	benchRead(b, db, UseReplica(context.Background()))
}

// BenchmarkRawStdlibRead reads from the same replica through raw pgx stdlib.
func BenchmarkRawStdlibRead(b *testing.B) {
	db, err := sql.Open("pgx", pgtest.Shared(b).Nodes[1].DSN())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ReportAllocs()
	benchRead(b, db, context.Background())
}

func benchRead(b *testing.B, db *sql.DB, ctx context.Context) {
	var n int
	// Connections are dialed outside the measurement: a routed read opens two (the session's
	// primary connection and the replica's), a raw one opens one.
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
			b.Fatal(err)
		}
	}
}

func medMax(d []time.Duration) (time.Duration, time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[len(s)-1]
}

func sum(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

// idleDetection kills and restarts the shared cluster's primary runs times with no client
// traffic, and returns the times from kill to the primary marked down, and the probe rate of
// a replica while everything is healthy.
func idleDetection(t *testing.T, c *pgtest.Cluster, runs int) ([]time.Duration, float64) {
	_, r := open(t, c.Nodes[0].DSN(), []string{c.Nodes[1].DSN()}, WithProbeInterval(500*time.Millisecond), WithProbeTimeout(400*time.Millisecond))
	p0 := c.Nodes[0]
	ctx := ctxT(t, 10*time.Minute)
	probes0, t0 := stat(r, name(c.Nodes[1])).Probes, time.Now()
	waitFor(t, 10*time.Second, "steady state", func() bool { return time.Since(t0) > 3*time.Second })
	rate := float64(stat(r, name(c.Nodes[1])).Probes-probes0) / time.Since(t0).Seconds()
	var out []time.Duration
	for i := 0; i < runs; i++ {
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
	return out, rate
}
