package scale

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/pgprovider/pgprovider/bench/internal/suite"
)

// rotationOpts sizes the interleaved measurement.
type rotationOpts struct {
	turns, blockOps, pools, countOps int
	pin                              bool
}

// rotationKey is one case: a variant on a connection count.
type rotationKey struct {
	variant string
	conns   int
}

// rotationStats is what the blocks of one case measured.
type rotationStats struct {
	ns                  []float64            // per block: wall time per statement
	ratio               map[string][]float64 // per block: ratio to the named variant's block of the same turn
	mallocs, bytes, ops uint64
	counts              counts
}

// measureRotation runs the tenant variants in interleaved blocks: per turn, every variant
// runs one block of blockOps statements per connection (8 goroutines over 8 connections for
// the 8-connection case), in a new random order each turn, so that slow phases of the
// machine fall on all of them alike; ratios are taken within a turn. Allocations are the
// process's heap allocations during the blocks (runtime.MemStats), per statement.
//
// ctx only bounds the run (it is checked between turns): the statements run under
// context.Background() or the tenants' contexts derived from it, since pgx watches a context
// that can be cancelled, which allocates on every statement.
func measureRotation(ctx context.Context, dsn, rlsDSN string, connCounts []int, o rotationOpts) (map[rotationKey]*rotationStats, error) {
	run := ctx
	ctx = context.Background()
	vs := tenantVariants()
	out := map[rotationKey]*rotationStats{}
	for _, conns := range connCounts {
		for _, v := range vs {
			c, err := countRoundTrips(ctx, dsn, rlsDSN, v, conns, o.countOps)
			if err != nil {
				return nil, err
			}
			out[rotationKey{v.name, conns}] = &rotationStats{ratio: map[string][]float64{}, counts: c}
		}
	}
	dbs := map[rotationKey][]*sql.DB{}
	defer func() {
		for _, pools := range dbs {
			for _, db := range pools {
				db.Close()
			}
		}
	}()
	rewarm := func(conns int) error {
		for _, v := range vs {
			for _, db := range dbs[rotationKey{v.name, conns}] {
				if err := warm(ctx, db, v, conns, nTenants); err != nil {
					return fmt.Errorf("%s: %w", v.name, err)
				}
			}
		}
		return nil
	}
	for _, conns := range connCounts {
		for _, v := range vs {
			for range o.pools {
				db, err := v.open(dsn, rlsDSN, nil)
				if err != nil {
					return nil, err
				}
				k := rotationKey{v.name, conns}
				dbs[k] = append(dbs[k], db)
			}
		}
	}
	warmed := map[int]time.Time{}
	for _, conns := range connCounts {
		if err := rewarm(conns); err != nil {
			return nil, err
		}
		warmed[conns] = time.Now()
	}
	if o.pin {
		if err := suite.PinProcess(0); err != nil {
			return nil, err
		}
		if err := pinClientBackends(ctx, dsn); err != nil {
			return nil, err
		}
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for _, conns := range connCounts {
		op := 0
		for turn := range o.turns {
			if err := run.Err(); err != nil {
				return nil, err
			}
			// The schema-existence cache lasts 5 minutes (tenancy.WithExistenceTTL's
			// default); no block runs on an expired one, so no lookup falls inside the
			// measurement.
			if time.Since(warmed[conns]) > 4*time.Minute {
				if err := rewarm(conns); err != nil {
					return nil, err
				}
				warmed[conns] = time.Now()
			}
			block := map[string]float64{}
			for _, vi := range rng.Perm(len(vs)) {
				v := vs[vi]
				k := rotationKey{v.name, conns}
				db := dbs[k][turn%o.pools]
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				t0 := time.Now()
				if err := runOps(ctx, db, v, conns, o.blockOps, op); err != nil {
					return nil, fmt.Errorf("%s, %d connections: %w", v.name, conns, err)
				}
				d := time.Since(t0)
				runtime.ReadMemStats(&m1)
				n := conns * o.blockOps
				op += n
				st := out[k]
				st.ns = append(st.ns, float64(d.Nanoseconds())/float64(n))
				st.mallocs += m1.Mallocs - m0.Mallocs
				st.bytes += m1.TotalAlloc - m0.TotalAlloc
				st.ops += uint64(n)
				block[v.name] = st.ns[len(st.ns)-1]
			}
			for _, v := range vs {
				st := out[rotationKey{v.name, conns}]
				for _, base := range []string{rawName, rawSetName, v.same} {
					if base != "" {
						st.ratio[base] = append(st.ratio[base], block[v.name]/block[base])
					}
				}
			}
		}
	}
	return out, nil
}

// pinClientBackends pins every client backend of the server to CPU 0.
func pinClientBackends(ctx context.Context, dsn string) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
	if err != nil {
		return err
	}
	var pids []int
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			rows.Close()
			return err
		}
		pids = append(pids, pid)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	return suite.PinPIDs(pids, 0)
}

// quartiles returns the first quartile, the median and the third quartile of v.
func quartiles(v []float64) (q1, q2, q3 float64) {
	s := slices.Clone(v)
	slices.Sort(s)
	at := func(f float64) float64 { return s[int(f*float64(len(s)-1)+0.5)] }
	return at(0.25), at(0.5), at(0.75)
}

// rotationTable renders the rotation results for one connection count.
func rotationTable(res map[rotationKey]*rotationStats, conns int, o rotationOpts) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "### %d connection(s)\n\n", conns)
	fmt.Fprintf(&sb, "%d turns; per turn each variant runs a block of %d statements", o.turns, o.blockOps*conns)
	if conns > 1 {
		fmt.Fprintf(&sb, " (%d goroutines × %d over %d connections)", conns, o.blockOps, conns)
	}
	sb.WriteString(". Time: median over turns of the ratio to the named variant's block in the same turn (interquartile range in brackets). Round trips: statements pgx sent per statement of the workload, counted by a pgx QueryTracer in a separate pass after the warm-up.\n\n")
	sb.WriteString("| variant | time × raw | time × raw-set | time × same tenant | allocs/op | B/op | set_config/op | SET search_path/op | existence lookups/op | round trips/op |\n|---|---|---|---|---:|---:|---:|---:|---:|---:|\n")
	cell := func(v []float64) string {
		if len(v) == 0 {
			return ""
		}
		q1, q2, q3 := quartiles(v)
		return fmt.Sprintf("×%.3f [%.3f–%.3f]", q2, q1, q3)
	}
	for _, v := range tenantVariants() {
		st := res[rotationKey{v.name, conns}]
		same := ""
		if v.same != "" {
			same = cell(st.ratio[v.same])
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %.1f | %.0f | %.3f | %.3f | %.3f | %.3f |\n", v.name,
			cell(st.ratio[rawName]), cell(st.ratio[rawSetName]), same,
			float64(st.mallocs)/float64(st.ops), float64(st.bytes)/float64(st.ops),
			st.counts.setConfig, st.counts.setSearchPath, st.counts.exists, st.counts.total)
	}
	_, med, _ := quartiles(res[rotationKey{rawName, conns}].ns)
	fmt.Fprintf(&sb, "\n(raw's median time per statement in this run, for scale: %.1f µs.)\n\n", med/1000)
	return sb.String()
}
