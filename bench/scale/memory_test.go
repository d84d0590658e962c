package scale

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/bench/internal/suite"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/middleware/pgotel"
	"github.com/pgprovider/pgprovider/retry"
	"github.com/pgprovider/pgprovider/tenancy"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// rawConnectorName is the variant of raw pgx stdlib that parses the DSN once.
const rawConnectorName = "raw-connector"

// memConns is the number of connections a full run holds open per variant.
const memConns = 1000

// profileEnv names a directory: the memory measurement then records every allocation
// (runtime.MemProfileRate = 1, set in TestMain) and writes heap profiles there.
const profileEnv = "BENCH_HEAPPROFILE"

// memVariant is one way of opening the connections.
type memVariant struct {
	name, doc string
	open      func(dsn string) (*sql.DB, error)
	ctx       context.Context // the context of the statement run on every connection
}

func memVariants() []memVariant {
	bg := context.Background()
	five := make([]middleware.Middleware, 5)
	for i := range five {
		five[i] = suite.PassThrough()
	}
	return []memVariant{
		{name: rawName, doc: `raw pgx stdlib, sql.Open("pgx", dsn)`, ctx: bg,
			open: func(dsn string) (*sql.DB, error) { return sql.Open("pgx", dsn) }},
		{name: "raw2", doc: "raw pgx stdlib again: the A/A control, whose distance from raw is the method's noise", ctx: bg,
			open: func(dsn string) (*sql.DB, error) { return sql.Open("pgx", dsn) }},
		{name: rawConnectorName, doc: "raw pgx stdlib through a connector, stdlib.OpenDB(*pgx.ParseConfig(dsn)): the DSN parsed once, as pgprovider does, instead of on every connection as sql.Open(\"pgx\", dsn) does", ctx: bg,
			open: func(dsn string) (*sql.DB, error) {
				cfg, err := pgx.ParseConfig(dsn)
				if err != nil {
					return nil, err
				}
				return stdlib.OpenDB(*cfg), nil
			}},
		{name: "empty", doc: "pgprovider.Open(dsn), no middleware", ctx: bg,
			open: func(dsn string) (*sql.DB, error) { return pgprovider.Open(dsn) }},
		{name: "five", doc: "pgprovider with five pass-through middleware (Exec, Query, Begin, Commit, RowsEnd)", ctx: bg,
			open: func(dsn string) (*sql.DB, error) { return pgprovider.Open(dsn, pgprovider.WithMiddleware(five...)) }},
		{name: "builtins", doc: "pgprovider with pgotel (no-op tracer), retry.New() and tenancy.Schema(WithPrefix(\"bt_\")); the statement runs for tenant 0",
			ctx: tenantCtx[0],
			open: func(dsn string) (*sql.DB, error) {
				return pgprovider.Open(dsn, pgprovider.WithMiddleware(
					pgotel.New(pgotel.WithTracerProvider(tracenoop.NewTracerProvider())),
					retry.New(),
					tenancy.Schema(tenancy.WithPrefix(schemaPrefix))))
			}},
	}
}

// heapAlloc returns the bytes of live heap objects after two garbage collections.
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// memSample is one measurement of one variant: live heap per connection, the connections
// open and idle in the pool, before any statement ran on them (connected) and after one
// statement on each (used).
type memSample struct{ connected, used float64 }

// measureMemory opens n connections of v at once (held, then returned to the pool, where
// they stay idle), and measures the heap they add; then it runs `SELECT 1` on each of them
// (all checked out at once again) and measures once more. With prof set it writes heap
// profiles (prof-pre, -connected, -used).
func measureMemory(ctx context.Context, v memVariant, dsn string, n int, prof string) (memSample, error) {
	writeProfile := func(stage string) error {
		if prof == "" {
			return nil
		}
		runtime.GC()
		f, err := os.Create(prof + "-" + stage + ".pprof")
		if err != nil {
			return err
		}
		defer f.Close()
		return pprof.Lookup("heap").WriteTo(f, 0)
	}
	if err := writeProfile("pre"); err != nil {
		return memSample{}, err
	}
	before := heapAlloc()
	db, err := v.open(dsn)
	if err != nil {
		return memSample{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	held := make([]*sql.Conn, n)
	checkout := func() error {
		return parallel(n, func(i int) error {
			c, err := db.Conn(ctx)
			held[i] = c
			return err
		})
	}
	release := func() error {
		for i, c := range held {
			if err := c.Close(); err != nil {
				return err
			}
			held[i] = nil
		}
		return nil
	}
	if err := checkout(); err != nil {
		return memSample{}, err
	}
	if err := release(); err != nil {
		return memSample{}, err
	}
	var s memSample
	after := heapAlloc()
	if st := db.Stats(); st.OpenConnections != n || st.Idle != n {
		return s, fmt.Errorf("%s: pool holds %d connections (%d idle), want %d idle", v.name, st.OpenConnections, st.Idle, n)
	}
	s.connected = (float64(after) - float64(before)) / float64(n)
	if err := writeProfile("connected"); err != nil {
		return s, err
	}
	if err := checkout(); err != nil {
		return s, err
	}
	if err := parallel(n, func(i int) error {
		var one int
		return held[i].QueryRowContext(v.ctx, "SELECT 1").Scan(&one)
	}); err != nil {
		return s, err
	}
	if err := release(); err != nil {
		return s, err
	}
	after = heapAlloc()
	if st := db.Stats(); st.OpenConnections != n {
		return s, fmt.Errorf("%s: pool holds %d connections after the statements, want %d", v.name, st.OpenConnections, n)
	}
	s.used = (float64(after) - float64(before)) / float64(n)
	if err := writeProfile("used"); err != nil {
		return s, err
	}
	runtime.KeepAlive(db)
	return s, nil
}

// parallel runs f(0) … f(n-1) on 8 goroutines (connections open faster than one by one)
// and returns the first error.
func parallel(n int, f func(i int) error) error {
	const workers = 8
	errs := make(chan error, workers)
	var next atomic.Int64
	for range workers {
		go func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					errs <- nil
					return
				}
				if err := f(i); err != nil {
					next.Store(int64(n)) // stop the others
					errs <- err
					return
				}
			}
		}()
	}
	var first error
	for range workers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// memResult is every sample of one variant.
type memResult struct {
	v       memVariant
	samples []memSample
}

// measureMemoryRounds measures every variant reps times, in a new random order each time.
func measureMemoryRounds(ctx context.Context, dsn string, n, reps int, profDir string, logf func(string, ...any)) ([]memResult, error) {
	vs := memVariants()
	out := make([]memResult, len(vs))
	for i, v := range vs {
		out[i].v = v
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for r := range reps {
		for _, i := range rng.Perm(len(vs)) {
			prof := ""
			if profDir != "" && r == 0 {
				prof = filepath.Join(profDir, vs[i].name)
			}
			t0 := time.Now()
			s, err := measureMemory(ctx, vs[i], dsn, n, prof)
			if err != nil {
				return nil, err
			}
			if logf != nil {
				logf("memory %d/%d %-13s connected %6.0f B/conn, after one statement %6.0f B/conn (%s)", r+1, reps, vs[i].name, s.connected, s.used, time.Since(t0).Round(time.Second))
			}
			out[i].samples = append(out[i].samples, s)
		}
	}
	return out, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// memoryTable renders the results: medians over the repetitions, and the medians of the
// per-repetition differences to raw pgx stdlib (sql.Open) and to raw-connector.
func memoryTable(rs []memResult, n int) string {
	var sb strings.Builder
	reps := len(rs[0].samples)
	fmt.Fprintf(&sb, "%d connections open at once per variant, then idle in the pool; live heap (runtime.MemStats.HeapAlloc after two GCs) added, per connection; %d repetitions, the variants in a new random order each time; medians (of the per-repetition differences, for the differences). *Connected*: before any statement; *after one statement*: after `SELECT 1` on each connection.\n\n", n, reps)
	sb.WriteString("| variant | connected, B/conn | × raw | over raw | over raw-connector | after one statement, B/conn | over raw | over raw-connector | target: empty ≤ raw + 512 B |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	byName := map[string]memResult{}
	for _, r := range rs {
		byName[r.v.name] = r
	}
	raw, rc := byName[rawName], byName[rawConnectorName]
	diff := func(r, base memResult, used bool) float64 {
		var d []float64
		for k, s := range r.samples {
			if used {
				d = append(d, s.used-base.samples[k].used)
			} else {
				d = append(d, s.connected-base.samples[k].connected)
			}
		}
		return median(d)
	}
	for _, r := range rs {
		var c, u []float64
		for _, s := range r.samples {
			c, u = append(c, s.connected), append(u, s.used)
		}
		verdict := ""
		if r.v.name == "empty" {
			judge := func(base memResult) string {
				if diff(r, base, false) > 512 || diff(r, base, true) > 512 {
					return "MISS"
				}
				return "ok"
			}
			verdict = fmt.Sprintf("%s against raw, %s against raw-connector", judge(raw), judge(rc))
		}
		fmt.Fprintf(&sb, "| %s | %.0f | ×%.4f | %+.0f | %+.0f | %.0f | %+.0f | %+.0f | %s |\n", r.v.name, median(c), median(c)/median(rawConnected(raw)),
			diff(r, raw, false), diff(r, rc, false), median(u), diff(r, raw, true), diff(r, rc, true), verdict)
	}
	return sb.String()
}

func rawConnected(r memResult) []float64 {
	var out []float64
	for _, s := range r.samples {
		out = append(out, s.connected)
	}
	return out
}

// profileReport runs `go tool pprof` on the profiles in dir and returns its tables with a
// per-connection column: the live heap pgprovider holds beyond raw pgx stdlib's with the
// connections open (inuse_space and inuse_objects, -diff_base), per function, and what
// pgprovider's own code allocated while opening them (alloc_space, per source line).
func profileReport(dir string, n int) (string, error) {
	var sb strings.Builder
	file := func(v, stage string) string { return filepath.Join(dir, v+"-"+stage+".pprof") }
	section := func(title string, unit string, args ...string) error {
		all := append([]string{"tool", "pprof", "-top", "-nodecount=12"}, args...)
		out, err := exec.Command("go", all...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go %v: %v\n%s", all, err, out)
		}
		table := trimPprof(string(out))
		if slices.Contains(args, "-nodecount=400") { // only pgprovider's own lines
			table = ownLines(table)
		}
		fmt.Fprintf(&sb, "%s\n\n`go %s` (relative paths):\n\n```\n%s```\n\n", title, strings.ReplaceAll(strings.Join(all, " "), dir+"/", ""), perConn(table, n, unit))
		return nil
	}
	for _, s := range []struct {
		title, unit string
		args        []string
	}{
		{"Live heap of `empty` beyond `raw-connector`'s, " + fmt.Sprint(n) + " connections open, per function:", "B",
			[]string{"-sample_index=inuse_space", "-unit=B", "-diff_base=" + file(rawConnectorName, "connected"), file("empty", "connected")}},
		{"The same in objects:", "",
			[]string{"-sample_index=inuse_objects", "-diff_base=" + file(rawConnectorName, "connected"), file("empty", "connected")}},
		{"Live heap of `empty` beyond `raw`'s (sql.Open, which keeps a parsed configuration per connection):", "B",
			[]string{"-sample_index=inuse_space", "-unit=B", "-diff_base=" + file(rawName, "connected"), file("empty", "connected")}},
		{"Live heap of `builtins` beyond `raw-connector`'s after one statement on each connection:", "B",
			[]string{"-sample_index=inuse_space", "-unit=B", "-diff_base=" + file(rawConnectorName, "used"), file("builtins", "used")}},
		{"Allocated while opening the `empty` connections (retained or not) at source lines of pgprovider itself:", "B",
			[]string{"-sample_index=alloc_space", "-unit=B", "-lines", "-nodecount=400", "-nodefraction=0", "-ignore=" + ignoreMeasurement, "-diff_base=" + file("empty", "pre"), file("empty", "connected")}},
		{"Everything allocated while opening the `raw-connector` connections, per function (pgx's own cost per connection, for scale):", "B",
			[]string{"-sample_index=alloc_space", "-unit=B", "-ignore=" + ignoreMeasurement, "-diff_base=" + file(rawConnectorName, "pre"), file(rawConnectorName, "connected")}},
	} {
		if err := section(s.title, s.unit, s.args...); err != nil {
			return "", err
		}
	}
	return sb.String(), nil
}

// ignoreMeasurement drops the measurement's own allocations (writing the profiles).
const ignoreMeasurement = "runtime/pprof|compress/"

// ownLines keeps the header of a pprof -top -lines table and its rows at pgprovider's own
// source lines with a non-zero flat value.
func ownLines(table string) string {
	var out []string
	inRows := false
	for _, l := range strings.Split(table, "\n") {
		f := strings.Fields(l)
		switch {
		case !inRows:
			out = append(out, l)
			inRows = len(f) > 0 && f[0] == "flat"
		case strings.Contains(l, "github.com/pgprovider/pgprovider.") && len(f) > 0 && f[0] != "0":
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// perConn prefixes every row of a pprof -top table with its flat value divided by n.
func perConn(table string, n int, unit string) string {
	var sb strings.Builder
	inRows := false
	for _, l := range strings.Split(strings.TrimRight(table, "\n"), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) > 0 && f[0] == "flat":
			inRows = true
			fmt.Fprintf(&sb, "%12s  %s\n", "flat/conn", l)
			continue
		case inRows && len(f) > 0:
			if v, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "B"), 64); err == nil {
				if v == 0 {
					continue // only inclusive (cum) figures: the rows above hold them
				}
				fmt.Fprintf(&sb, "%12s  %s\n", fmt.Sprintf("%.1f%s", v/float64(n), unit), l)
				continue
			}
		}
		sb.WriteString(l + "\n")
	}
	return sb.String()
}

// TestConnMemoryProfile measures memory per connection once with every allocation recorded
// and prints what `go tool pprof` attributes per line. It runs only with BENCH_HEAPPROFILE
// set to a directory (TestScale runs it in a child process in a full run).
func TestConnMemoryProfile(t *testing.T) {
	dir := os.Getenv(profileEnv)
	if dir == "" {
		t.Log("set " + profileEnv + "=<dir> to profile")
		return
	}
	dsn, _ := tenantServer(t)
	n := memConns
	if testing.Short() {
		n = 50
	}
	ctx := context.Background()
	for _, v := range memVariants() {
		if _, err := measureMemory(ctx, v, dsn, n, filepath.Join(dir, v.name)); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := profileReport(dir, n)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Print(rep)
}

// trimPprof drops pprof's header lines that name the local files and the time.
func trimPprof(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Type:") || strings.HasPrefix(l, "Time:") || strings.HasPrefix(l, "Build ID:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.TrimLeft(strings.Join(keep, "\n"), "\n")
}
