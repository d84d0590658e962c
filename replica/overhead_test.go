package replica

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
)

// TestRoutingOverhead compares a replica read through the Router with raw pgx stdlib on the
// same replica, in one process: rounds of ROUTING_N reads (default 5000) per path, the paths
// interleaved and rotated, connections dialed before measuring. Run it pinned to one CPU with
// its PostgreSQL processes (taskset -c 0), so that cross-CPU wake-ups do not drown a
// few-percent difference. It runs only with PGPROVIDER_MEASURE=1.
func TestRoutingOverhead(t *testing.T) {
	if os.Getenv("PGPROVIDER_MEASURE") != "1" {
		t.Log("set PGPROVIDER_MEASURE=1 to measure")
		return
	}
	n, rounds := 5000, 12
	if v, err := strconv.Atoi(os.Getenv("ROUTING_N")); err == nil && v > 0 {
		n = v
	}
	if v, err := strconv.Atoi(os.Getenv("ROUTING_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	c := pgtest.Shared(t)
	routed := func(opts ...Option) *sql.DB {
		r, err := New([]string{c.Nodes[1].DSN()}, append([]Option{WithPrimary(c.Nodes[0].DSN())}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		ctr, err := pgprovider.NewConnector(c.Nodes[0].DSN(), pgprovider.WithMiddleware(r))
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(ctr)
		t.Cleanup(func() { db.Close(); ctr.Close() })
		return db
	}
	raw, err := sql.Open("pgx", c.Nodes[1].DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	paths := []struct {
		name string
		db   *sql.DB
		ctx  context.Context
	}{
		{"raw pgx stdlib on the replica", raw, context.Background()},
		{"pgprovider + replica.Router, UseReplica (defaults)", routed(), UseReplica(context.Background())},
		{"same, WithReadTimeout(2 * time.Second)", routed(WithReadTimeout(2 * time.Second)), UseReplica(context.Background())},
	}
	read := func(db *sql.DB, ctx context.Context, k int) time.Duration {
		var x int
		start := time.Now()
		for range k {
			if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&x); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start)
	}
	for _, p := range paths {
		read(p.db, p.ctx, 200) // dial and warm up
	}
	if f := os.Getenv("ROUTING_PROFILE"); f != "" { // a fine-grained CPU profile of the routed path
		out, err := os.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		runtime.SetCPUProfileRate(4000)
		if err := pprof.StartCPUProfile(out); err != nil {
			t.Log(err)
		}
		read(paths[1].db, paths[1].ctx, 20*n)
		pprof.StopCPUProfile()
		out.Close()
	}
	ns := make([][]float64, len(paths))
	for r := range rounds {
		for k := range paths {
			i := (k + r) % len(paths)
			ns[i] = append(ns[i], float64(read(paths[i].db, paths[i].ctx, n).Nanoseconds())/float64(n))
		}
	}
	med := func(v []float64) float64 {
		s := slices.Clone(v)
		slices.Sort(s)
		return s[len(s)/2]
	}
	fmt.Printf("\n%d rounds of %d `SELECT 1` per path, interleaved:\n\n| path | ns/op median | ns/op min | ratio to raw (median of rounds) |\n|---|---:|---:|---:|\n", rounds, n)
	for i, p := range paths {
		ratios := make([]float64, rounds)
		for r := range rounds {
			ratios[r] = ns[i][r] / ns[0][r]
		}
		fmt.Printf("| %s | %.0f | %.0f | ×%.3f |\n", p.name, med(ns[i]), slices.Min(ns[i]), med(ratios))
	}
	fmt.Println()
}
