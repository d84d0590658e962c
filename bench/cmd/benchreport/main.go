// Command benchreport runs pgprovider's benchmarks against raw pgx stdlib, XSAM/otelsql and
// ngrok/sqlmw in one process, prints benchstat output and tables of ratios to raw pgx stdlib,
// and writes them with the machine description to RESULTS.md.
//
// It starts a temporary PostgreSQL server with the project's test harness (or uses $BENCH_DSN),
// measures the heap per open connection, then pins itself and the server backends of its
// connections to CPU 0 and runs every (workload, connections, variant) case in interleaved
// rounds, taking the fastest sample of each case. Run it from bench/:
//
//	go run ./cmd/benchreport            # full run, writes RESULTS.md (about 6 minutes)
//	go run ./cmd/benchreport -short     # one iteration of each case, writes nothing
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider/bench/internal/suite"
	"golang.org/x/sys/unix"
)

const benchstatCmd = "go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da"

type options struct {
	rounds    int
	benchtime string
	memConns  int
	pin       bool
	cpu       int
	out       string
	rawOut    string
	benchstat string
	short     bool
	variants  string
	workloads string
	conns     string
	blocks    int
	blockOps  int
	pblocks   int
	pools     int
}

func main() {
	testing.Init()
	var o options
	flag.IntVar(&o.rounds, "rounds", 16, "samples of each case, taken in interleaved rounds")
	flag.StringVar(&o.benchtime, "benchtime", "150ms", "duration (or Nx iterations) of one sample")
	flag.IntVar(&o.memConns, "mem", 500, "connections opened per variant for the memory measurement (0: skip)")
	flag.BoolVar(&o.pin, "pin", true, "pin this process and its server backends to one CPU")
	flag.IntVar(&o.cpu, "cpu", 0, "the CPU to pin to")
	flag.StringVar(&o.out, "out", "RESULTS.md", "markdown report to write (empty: none)")
	flag.StringVar(&o.rawOut, "raw", "", "file for the raw benchmark lines (default: a temporary file)")
	flag.StringVar(&o.benchstat, "benchstat", benchstatCmd, "benchstat command (empty: skip)")
	flag.StringVar(&o.variants, "variants", "", "comma-separated variants to run besides raw (empty: all)")
	flag.StringVar(&o.workloads, "workloads", "", "comma-separated workloads to run (empty: all)")
	flag.StringVar(&o.conns, "conns", "1,8", "comma-separated connection counts (1: serial; more: that many goroutines and connections)")
	flag.IntVar(&o.blocks, "blocks", 600, "interleaved blocks per 1-connection case after the rounds (0: none); the variants take turns block by block")
	flag.IntVar(&o.blockOps, "block-ops", 100, "operations per interleaved block (with N connections: per goroutine, N goroutines)")
	flag.IntVar(&o.pblocks, "parallel-blocks", 300, "interleaved blocks per case with more than one connection (0: none)")
	flag.IntVar(&o.pools, "pools", 3, "connection pools per variant and connection count; the rounds and the interleaved blocks take them in turn, so that no variant's ratio rests on the luck of one set of server backends")
	flag.BoolVar(&o.short, "short", false, "smoke run: one round of one iteration, 20 connections for memory, no report")
	flag.Parse()
	if o.short {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		o.rounds, o.benchtime = 1, "1x"
		if !set["mem"] {
			o.memConns = 20
		}
		if !set["out"] {
			o.out = ""
		}
		if o.blocks > 0 {
			o.blocks = 2
		}
		if o.pblocks > 0 {
			o.pblocks = 2
		}
		o.pools = 1
	}
	if o.pools < 1 {
		o.pools = 1
	}
	if err := flag.Set("test.benchtime", o.benchtime); err != nil {
		fatal(err)
	}
	connCounts = nil
	for _, c := range strings.Split(o.conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			fatal(fmt.Errorf("-conns: %q is not a connection count", c))
		}
		connCounts = append(connCounts, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		stop()
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "benchreport:", err)
	os.Exit(1)
}

// sample is one measurement of one case.
type sample struct {
	nsPerOp, cpuPerOp, bytesPerOp, allocsPerOp float64
}

// caseKey identifies a benchmark case.
type caseKey struct {
	work, variant string
	conns         int
}

func (k caseKey) name() string {
	return fmt.Sprintf("BenchmarkDriver/work=%s/conns=%d/variant=%s", k.work, k.conns, k.variant)
}

// connCounts are the connection counts measured (-conns).
var connCounts = []int{1, 8}

// sumConns is the number of connections one pool of each connection count holds.
func sumConns() int {
	n := 0
	for _, c := range connCounts {
		n += c
	}
	return n
}

func run(ctx context.Context, o options) (err error) {
	start := time.Now()
	dog := startWatchdog(3 * time.Minute)
	defer dog.stop()
	m := describeMachine() // before pinning: nproc from the affinity mask
	m.LoadBefore = loadavg()
	srv, err := suite.StartServer(ctx, max(o.memConns, 100)+100+o.pools*len(suite.Variants())*sumConns())
	if err != nil {
		return err
	}
	defer func() {
		if cerr := srv.Close(); err == nil {
			err = cerr
		}
	}()
	if m.Postgres, err = srv.Version(ctx); err != nil {
		return err
	}
	variants, workloads := suite.Select(suite.Variants(), o.variants), suite.SelectWorkloads(suite.Workloads(), o.workloads)

	var mem []memResult
	if o.memConns > 0 {
		logf("memory: %d connections per variant", o.memConns)
		for _, v := range variants {
			b, err := suite.MemoryPerConn(ctx, v, srv.DSN, o.memConns)
			if err != nil {
				return fmt.Errorf("memory %s: %w", v.Name, err)
			}
			mem = append(mem, memResult{variant: v.Name, perConn: b})
			dog.pet()
			logf("  %-13s %8.0f B/conn", v.Name, b)
		}
	}

	pin := o.pin && srv.Local
	if pin {
		if err := suite.PinProcess(o.cpu); err != nil {
			return err
		}
	}
	m.Pinned = pin
	m.GOMAXPROCS = runtime.GOMAXPROCS(0)

	dbs := map[caseKey][]*sql.DB{} // o.pools per variant and connection count
	defer func() {
		for _, pools := range dbs {
			for _, db := range pools {
				_ = db.Close()
			}
		}
	}()
	for _, v := range variants {
		for _, conns := range connCounts {
			for range o.pools {
				db, err := v.Open(srv.DSN)
				if err != nil {
					return err
				}
				k := caseKey{variant: v.Name, conns: conns}
				dbs[k] = append(dbs[k], db)
				if err := warmAndPin(ctx, db, conns, pin, o.cpu); err != nil {
					return fmt.Errorf("%s: %w", v.Name, err)
				}
			}
		}
	}
	if err := suite.Setup(ctx, dbs[caseKey{variant: suite.Raw, conns: connCounts[0]}][0]); err != nil {
		return err
	}

	samples := map[caseKey][]sample{}
	var order []caseKey
	var lines strings.Builder
	fmt.Fprintf(&lines, "goos: %s\ngoarch: %s\npkg: github.com/pgprovider/pgprovider/bench\ncpu: %s\n",
		runtime.GOOS, runtime.GOARCH, m.CPU)
	total := o.rounds * len(workloads) * len(connCounts) * len(variants)
	done := 0
	rng := rand.New(rand.NewPCG(1, 2)) // fixed seed: a rerun takes the same orders
	for r := range o.rounds {
		for _, w := range workloads {
			for _, conns := range connCounts {
				for _, v := range shuffled(rng, variants) {
					if err := ctx.Err(); err != nil {
						return err
					}
					db := dbs[caseKey{variant: v.Name, conns: conns}][r%o.pools]
					if err := warmAndPin(ctx, db, conns, pin, o.cpu); err != nil {
						return fmt.Errorf("%s: %w", v.Name, err)
					}
					runtime.GC()
					var cpu time.Duration // process CPU time of the last (reported) run
					res := testing.Benchmark(func(b *testing.B) {
						c0 := processCPU()
						suite.Run(b, db, w, conns)
						cpu = processCPU() - c0
					})
					if res.N == 0 {
						return fmt.Errorf("%s %s conns=%d failed (run `go test -run '^$' -bench .` in bench/ for the error)", v.Name, w.Name, conns)
					}
					k := caseKey{work: w.Name, variant: v.Name, conns: conns}
					if _, ok := samples[k]; !ok {
						order = append(order, k)
					}
					s := sample{
						nsPerOp:     float64(res.T.Nanoseconds()) / float64(res.N),
						cpuPerOp:    float64(cpu.Nanoseconds()) / float64(res.N),
						bytesPerOp:  float64(res.AllocedBytesPerOp()),
						allocsPerOp: float64(res.AllocsPerOp()),
					}
					dog.pet()
					samples[k] = append(samples[k], s)
					fmt.Fprintf(&lines, "%s\t%d\t%.1f ns/op\t%.1f cpu-ns/op\t%d B/op\t%d allocs/op\n", k.name(), res.N, s.nsPerOp, s.cpuPerOp, res.AllocedBytesPerOp(), res.AllocsPerOp())
					done++
				}
			}
		}
		logf("round %d/%d done (%d/%d samples, %s)", r+1, o.rounds, done, total, time.Since(start).Round(time.Second))
	}

	var blocks map[caseKey][]sample
	if o.blocks > 0 || o.pblocks > 0 {
		if blocks, err = runBlocks(ctx, o, variants, workloads, dbs, pin, dog); err != nil {
			return err
		}
	}

	rep := report{
		machine: m, opts: o, variants: variants, workloads: workloads,
		samples: samples, blocks: blocks, mem: mem,
	}
	rep.machine.LoadAfter = loadavg()
	dog.stop()

	rawPath := o.rawOut
	if rawPath == "" {
		f, err := os.CreateTemp("", "benchreport-*.txt")
		if err != nil {
			return err
		}
		rawPath = f.Name()
		f.Close()
		defer os.Remove(rawPath)
	}
	if err := os.WriteFile(rawPath, []byte(lines.String()), 0o644); err != nil {
		return err
	}
	rep.benchstat = runBenchstat(o.benchstat, rawPath)
	rep.elapsed = time.Since(start)
	tables := rep.tables()
	fmt.Println(rep.benchstat)
	fmt.Println(tables)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(rep.markdown(tables)), 0o644); err != nil {
			return err
		}
		abs, _ := filepath.Abs(o.out)
		logf("wrote %s", abs)
	}
	return nil
}

// shuffled returns the variants in a random order. A new order for every round (or turn)
// matters: a variant runs slower right after one that disturbs the CPU's caches more, and a
// rotation keeps the cyclic order, so under it every variant always follows the same one
// (measured: raw pgx stdlib right after the OpenTelemetry SDK variant ran 3.4% slower than
// the same driver anywhere else, and every ratio to it looked that much better).
func shuffled(rng *rand.Rand, vs []suite.Variant) []suite.Variant {
	out := slices.Clone(vs)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// runBlocks measures the cases a second way: the variants take turns running blocks of
// o.blockOps operations (a few hundred microseconds each; with N connections, N goroutines
// run o.blockOps operations each), o.blocks blocks per 1-connection case and o.pblocks per
// parallel case, in a new random order every turn, without forcing a garbage collection in
// between (a variant that allocates more pays for its collections). Slow phases of the machine
// (other processes, the host's scheduling of the virtual CPU) last longer than a turn, so they
// cancel in the ratio of a block to raw's block of the same turn.
func runBlocks(ctx context.Context, o options, variants []suite.Variant, workloads []suite.Workload, dbs map[caseKey][]*sql.DB, pin bool, dog *watchdog) (map[caseKey][]sample, error) {
	out := map[caseKey][]sample{}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, conns := range connCounts {
		turns := o.blocks
		if conns > 1 {
			turns = o.pblocks
		}
		if turns <= 0 {
			continue
		}
		for _, w := range workloads {
			logf("blocks: %s, %d connection(s), %d blocks of %d operations per variant", w.Name, conns, turns, conns*o.blockOps)
			for _, v := range variants {
				for _, db := range dbs[caseKey{variant: v.Name, conns: conns}] {
					if err := warmAndPin(ctx, db, conns, pin, o.cpu); err != nil {
						return nil, fmt.Errorf("%s: %w", v.Name, err)
					}
					if err := runBlock(ctx, db, w, conns, o.blockOps, 0); err != nil { // warm the statement caches
						return nil, fmt.Errorf("%s %s: %w", v.Name, w.Name, err)
					}
				}
			}
			op := 0
			for turn := range turns {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				for _, v := range shuffled(rng, variants) {
					db := dbs[caseKey{variant: v.Name, conns: conns}][turn%o.pools]
					c0, t0 := processCPU(), time.Now()
					if err := runBlock(ctx, db, w, conns, o.blockOps, op); err != nil {
						return nil, fmt.Errorf("%s %s: %w", v.Name, w.Name, err)
					}
					t, c := time.Since(t0), processCPU()-c0
					n := float64(conns * o.blockOps)
					op += conns * o.blockOps
					k := caseKey{work: w.Name, variant: v.Name, conns: conns}
					out[k] = append(out[k], sample{
						nsPerOp:  float64(t.Nanoseconds()) / n,
						cpuPerOp: float64(c.Nanoseconds()) / n,
					})
				}
				dog.pet()
			}
		}
	}
	return out, nil
}

// runBlock runs one block: ops operations on the calling goroutine for one connection, or
// ops operations on each of conns goroutines (a pool of conns connections); first numbers
// the operations.
func runBlock(ctx context.Context, db *sql.DB, w suite.Workload, conns, ops, first int) error {
	if conns <= 1 {
		for i := range ops {
			if err := w.Op(ctx, db, first+i); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make(chan error, conns)
	for g := range conns {
		go func() {
			for i := range ops {
				if err := w.Op(ctx, db, first+g*ops+i); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var firstErr error
	for range conns {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// runBenchstat runs benchstat on the raw lines, variants as columns (raw pgx stdlib first).
func runBenchstat(command, path string) string {
	if command == "" {
		return "(benchstat skipped)"
	}
	f := strings.Fields(command)
	cmd := exec.Command(f[0], append(f[1:], "-col", "/variant", path)...)
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Sprintf("(benchstat failed: %v)", err)
	}
	return strings.TrimRight(out.String(), "\n")
}

// warmAndPin is suite.WarmAndPin with a time limit, so that a connection that never comes
// (a stuck server) fails the run instead of hanging it.
func warmAndPin(ctx context.Context, db *sql.DB, conns int, pin bool, cpu int) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return suite.WarmAndPin(ctx, db, conns, pin, cpu)
}

// loadavg returns the first three fields of /proc/loadavg: other work on the machine makes
// timings noisy, so the report records it.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// watchdog prints every goroutine's stack and exits when the run makes no progress for too
// long, so that a hang is diagnosable rather than silent.
type watchdog struct {
	t *time.Timer
	d time.Duration
}

func startWatchdog(d time.Duration) *watchdog {
	w := &watchdog{d: d}
	w.t = time.AfterFunc(d, func() {
		fmt.Fprintf(os.Stderr, "benchreport: no progress for %s; goroutines:\n", d)
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
		os.Exit(2)
	})
	return w
}

func (w *watchdog) pet()  { w.t.Reset(w.d) }
func (w *watchdog) stop() { w.t.Stop() }

// processCPU returns the CPU time this process has used (all threads, user and system).
func processCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchreport: "+format+"\n", args...)
}
