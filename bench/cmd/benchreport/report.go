package main

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/pgprovider/pgprovider/bench/internal/suite"
)

// machine describes where the benchmarks ran.
type machine struct {
	NProc      int
	CPU        string
	Kernel     string
	Go         string
	Postgres   string
	Modules    []string
	Pinned     bool
	GOMAXPROCS int
	LoadBefore string
	LoadAfter  string
	Commit     string
}

func describeMachine() machine {
	m := machine{NProc: runtime.NumCPU(), Go: runtime.Version(), CPU: "unknown", Kernel: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	m.Commit = gitCommit()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/jackc/pgx/v5", "github.com/XSAM/otelsql", "github.com/ngrok/sqlmw", "go.opentelemetry.io/otel/sdk":
				m.Modules = append(m.Modules, d.Path+" "+d.Version)
			}
		}
	}
	return m
}

// gitCommit describes the pgprovider source measured: the commit of the checkout bench/ sits
// in, and whether files outside bench/ differ from it.
func gitCommit() string {
	out, err := exec.Command("git", "-C", "..", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown (not a git checkout)"
	}
	c := strings.TrimSpace(string(out))
	st, err := exec.Command("git", "-C", "..", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench").Output()
	if err == nil && len(strings.TrimSpace(string(st))) > 0 {
		c += " with uncommitted changes"
	}
	return c
}

type memResult struct {
	variant string
	perConn float64
}

type report struct {
	machine   machine
	opts      options
	variants  []suite.Variant
	workloads []suite.Workload
	samples   map[caseKey][]sample
	blocks    map[caseKey][]sample // interleaved blocks (-blocks, -parallel-blocks)
	mem       []memResult
	benchstat string
	elapsed   time.Duration
}

// summary is what the tables show of one case: the fastest sample's wall time and client CPU
// time, the median wall time, and the median B/op and allocs/op (as benchstat shows them).
type summary struct {
	ns, nsMedian, cpu, bytes, allocs float64
}

func (r *report) summary(k caseKey) summary {
	ss := r.samples[k]
	pick := func(f func(sample) float64) []float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		slices.Sort(v)
		return v
	}
	ns := pick(func(s sample) float64 { return s.nsPerOp })
	cpu := pick(func(s sample) float64 { return s.cpuPerOp })
	b := pick(func(s sample) float64 { return s.bytesPerOp })
	a := pick(func(s sample) float64 { return s.allocsPerOp })
	return summary{ns: ns[0], nsMedian: median(ns), cpu: cpu[0], bytes: median(b), allocs: median(a)}
}

// paired is the median over rounds of the ratio of k's sample to base's sample in the same
// round: the two ran back to back, so slow phases of the machine cancel out.
func (r *report) paired(k, base caseKey) float64 {
	m, _, _ := r.pairedCI(k, base)
	return m
}

// pairedCI is paired with a distribution-free 95% confidence interval of that median: the
// order statistics of ranks n/2 ∓ 1.96·√n/2 of the sorted ratios (lo = hi = median below 6
// rounds).
func (r *report) pairedCI(k, base caseKey) (med, lo, hi float64) {
	ss, bs := r.timing(k), r.timing(base)
	n := min(len(ss), len(bs))
	v := make([]float64, 0, n)
	for i := range n {
		if bs[i].nsPerOp > 0 {
			v = append(v, ss[i].nsPerOp/bs[i].nsPerOp)
		}
	}
	if len(v) == 0 {
		return 0, 0, 0
	}
	slices.Sort(v)
	med = median(v)
	if len(v) < 6 {
		return med, med, med
	}
	half := 1.96 * math.Sqrt(float64(len(v))) / 2
	l := int(math.Floor(float64(len(v))/2 - half))
	h := int(math.Ceil(float64(len(v))/2 + half))
	return med, v[max(l, 0)], v[min(h, len(v)-1)]
}

// timing returns the samples that time case k: its interleaved blocks when they ran (-blocks),
// else its rounds.
func (r *report) timing(k caseKey) []sample {
	if b := r.blocks[k]; len(b) > 0 {
		return b
	}
	return r.samples[k]
}

// blockMeans returns the mean wall time and client CPU time per operation over k's
// interleaved blocks (zero when none ran).
func (r *report) blockMeans(k caseKey) (ns, cpu float64) {
	b := r.blocks[k]
	if len(b) == 0 {
		return 0, 0
	}
	for _, s := range b {
		ns += s.nsPerOp
		cpu += s.cpuPerOp
	}
	return ns / float64(len(b)), cpu / float64(len(b))
}

// cpuRatios returns, for case k against base, the time ratio implied by the added client CPU
// time ((raw time + added CPU) / raw time) and the ratio of client CPU times: from the means
// of the interleaved blocks when they ran, else from the fastest samples of the rounds.
func (r *report) cpuRatios(k, base caseKey) (implied, direct float64) {
	if bn, bc := r.blockMeans(base); bc > 0 {
		_, c := r.blockMeans(k)
		return (bn + c - bc) / bn, c / bc
	}
	s, b := r.summary(k), r.summary(base)
	direct = 1
	if b.cpu > 0 {
		direct = s.cpu / b.cpu
	}
	return cpuRatio(s, b), direct
}

func median(v []float64) float64 {
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func ratio(a, b float64) string {
	if b == 0 {
		if a == 0 {
			return "×1.00"
		}
		return "∞"
	}
	return fmt.Sprintf("×%.3f", a/b)
}

// variantTable writes one markdown table per connection count: a row per variant (raw's
// row unless skipRaw), a column per workload, cell rendering each case.
func (r *report) variantTable(sb *strings.Builder, title, intro string, skipRaw bool, cell func(k, base caseKey) string) {
	for _, conns := range connCounts {
		fmt.Fprintf(sb, "### %s, %d connection(s)\n\n%s", title, conns, intro)
		sb.WriteString("| variant |")
		for _, w := range r.workloads {
			fmt.Fprintf(sb, " %s |", w.Name)
		}
		sb.WriteString("\n|---|" + strings.Repeat("---:|", len(r.workloads)) + "\n")
		for _, v := range r.variants {
			if skipRaw && v.Name == suite.Raw {
				continue
			}
			fmt.Fprintf(sb, "| %s |", v.Name)
			for _, w := range r.workloads {
				fmt.Fprintf(sb, " %s |", cell(caseKey{work: w.Name, variant: v.Name, conns: conns},
					caseKey{work: w.Name, variant: suite.Raw, conns: conns}))
			}
			sb.WriteString("\n")
		}
		sb.WriteString("\n")
	}
}

// tables renders the ratio tables and the target check as markdown.
func (r *report) tables() string {
	var sb strings.Builder
	r.variantTable(&sb, fmt.Sprintf("Time per operation, ratio to raw pgx stdlib (fastest of %d samples)", r.opts.rounds), "", false,
		func(k, base caseKey) string {
			s, b := r.summary(k), r.summary(base)
			if k.variant == suite.Raw {
				return fmt.Sprintf("%.1f µs", s.ns/1e3)
			}
			return ratio(s.ns, b.ns)
		})
	r.variantTable(&sb, fmt.Sprintf("Time per operation, ratio to raw pgx stdlib (median over %d rounds of the ratio within a round)", r.opts.rounds), "", true,
		func(k, base caseKey) string { return fmt.Sprintf("×%.3f", r.paired(k, base)) })
	r.variantTable(&sb, fmt.Sprintf("Client CPU time added per operation (fastest of %d samples)", r.opts.rounds),
		"CPU time of the benchmark process (all threads) per operation, minus raw pgx stdlib's, and in parentheses the time ratio it implies: (raw wall time + added CPU) / raw wall time. With the process and its backends on one CPU, added client CPU adds to wall time one for one, and unlike wall time it does not depend on what else runs on the machine.\n\n", false,
		func(k, base caseKey) string {
			s, b := r.summary(k), r.summary(base)
			if k.variant == suite.Raw {
				return fmt.Sprintf("%.1f µs CPU", s.cpu/1e3)
			}
			return fmt.Sprintf("%+.2f µs (×%.3f)", (s.cpu-b.cpu)/1e3, cpuRatio(s, b))
		})
	if len(r.blocks) > 0 {
		sb.WriteString(r.blocksTable())
	}
	for _, conns := range connCounts {
		fmt.Fprintf(&sb, "### Detail, %d connection(s)\n\n", conns)
		sb.WriteString("| workload | variant | ns/op (min) | time × raw (min) | time × raw (median) | CPU ns/op (min) | time × raw (from CPU) | B/op | B/op × raw | allocs/op | allocs vs raw |\n")
		sb.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, w := range r.workloads {
			base := r.summary(caseKey{work: w.Name, variant: suite.Raw, conns: conns})
			for _, v := range r.variants {
				s := r.summary(caseKey{work: w.Name, variant: v.Name, conns: conns})
				fmt.Fprintf(&sb, "| %s | %s | %.0f | %s | %s | %.0f | ×%.3f | %.0f | %s | %.0f | %+.0f |\n",
					w.Name, v.Name, s.ns, ratio(s.ns, base.ns), ratio(s.nsMedian, base.nsMedian),
					s.cpu, cpuRatio(s, base), s.bytes, ratio(s.bytes, base.bytes), s.allocs, s.allocs-base.allocs)
			}
		}
		sb.WriteString("\n")
	}
	sb.WriteString(r.targets())
	sb.WriteString(r.floorTable())
	if len(r.mem) > 0 {
		sb.WriteString(r.memoryTable())
	}
	return sb.String()
}

// blocksTable shows the interleaved blocks, one table per connection count: per variant and
// workload, the median over turns of the ratio to raw's block of the same turn with its 95%
// interval, the ratio of mean times, and the ratio of client CPU times.
func (r *report) blocksTable() string {
	var sb strings.Builder
	for _, conns := range connCounts {
		turns := r.opts.blocks
		if conns > 1 {
			turns = r.opts.pblocks
		}
		if len(r.blocks[caseKey{work: r.workloads[0].Name, variant: suite.Raw, conns: conns}]) == 0 {
			continue
		}
		how := fmt.Sprintf("one block of %d operations", r.opts.blockOps)
		if conns > 1 {
			how = fmt.Sprintf("one block of %d goroutines running %d operations each over %d connections", conns, r.opts.blockOps, conns)
		}
		if r.opts.pools > 1 {
			how += fmt.Sprintf(" (on the turn's one of %d pools the variant holds, each with its own server backends)", r.opts.pools)
		}
		fmt.Fprintf(&sb, "### Interleaved blocks, %d connection(s)\n\n%d turns; in each turn every variant runs %s, in a new random order. "+
			"Cells: median over turns of the block's time per operation / raw's in the same turn [95%% interval]; ratio of mean times; ratio of client CPU times.\n\n",
			conns, turns, how)
		sb.WriteString("| variant |")
		for _, w := range r.workloads {
			sb.WriteString(" " + w.Name + " |")
		}
		sb.WriteString("\n|---|" + strings.Repeat("---|", len(r.workloads)) + "\n")
		for _, v := range r.variants {
			fmt.Fprintf(&sb, "| %s |", v.Name)
			for _, w := range r.workloads {
				k, bk := caseKey{work: w.Name, variant: v.Name, conns: conns}, caseKey{work: w.Name, variant: suite.Raw, conns: conns}
				if v.Name == suite.Raw {
					ns, cpu := r.blockMeans(k)
					fmt.Fprintf(&sb, " %.1f µs (CPU %.1f µs) |", ns/1e3, cpu/1e3)
					continue
				}
				med, lo, hi := r.pairedCI(k, bk)
				ns, _ := r.blockMeans(k)
				bns, _ := r.blockMeans(bk)
				_, direct := r.cpuRatios(k, bk)
				fmt.Fprintf(&sb, " ×%.3f [%.3f–%.3f]; ×%.3f; CPU ×%.3f |", med, lo, hi, ns/bns, direct)
			}
			sb.WriteString("\n")
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// sameBytes reports B/op figures equal up to amortised noise: allocations made once per many
// operations (pool bookkeeping, timers) move B/op by a few bytes from sample to sample, while
// a per-operation allocation adds at least 8 bytes to every sample.
func sameBytes(a, b float64) bool { return math.Abs(a-b) < 8 }

// cpuRatio is the time ratio to raw implied by the added client CPU time.
func cpuRatio(s, base summary) float64 {
	if base.ns == 0 {
		return 1
	}
	return (base.ns + s.cpu - base.cpu) / base.ns
}

// target is a goal of an issue for one variant, as ratios to raw in the same run.
type target struct {
	variant   string
	workloads []string // nil: every workload
	maxTime   float64  // paired median wall time ratio
	maxCPU    float64  // client CPU ratio; 0: the time ratio implied by the added CPU must be ≤ maxTime
	maxAllocs float64
	sameBytes bool
	issue     string
}

var targetList = []target{
	{variant: "empty", maxTime: 1.02, sameBytes: true, issue: "core"},
	{variant: "five", maxTime: 1.03, maxAllocs: 5, issue: "core"},
	{variant: "pgotel-noop", workloads: []string{"select1"}, maxTime: 1.02, maxAllocs: 2, issue: "observability"},
	{variant: "pgotel-sdk", workloads: []string{"select1"}, maxTime: 1.10, maxCPU: 1.15, maxAllocs: 10, issue: "observability"},
}

// targets checks the figures against the goals of the core and observability issues. Time is
// checked as the paired median and as implied by the added client CPU time; the A/A control
// (raw2) is listed first: its ratios are what the method reports for two identical drivers.
func (r *report) targets() string {
	var sb strings.Builder
	sb.WriteString("### Targets\n\n")
	sb.WriteString("Core: empty chain, allocs/op and B/op equal to raw (B/op within 8 bytes), time ≤ ×1.02; five pass-through, ≤ 5 extra allocs/op, time ≤ ×1.03. " +
		"Observability, on select1: OpenTelemetry middleware with no-op providers ≤ 2 extra allocs/op, time ≤ ×1.02; with a recording SDK tracer and metrics ≤ 10 extra allocs/op, time ≤ ×1.10, client CPU ≤ ×1.15. " +
		"Time is the median over rounds of the ratio to raw in the same round (paired; over the turns of the interleaved blocks when they ran; the 95% interval of that median from its order statistics beside it); " +
		"cpu is the time ratio implied by the added client CPU time (for pgotel-sdk: the ratio of client CPU times), from the blocks' means when they ran, else from the fastest samples. " +
		"The control row raw2 is raw pgx stdlib measured as a variant: its distance from ×1.000 is the method's own error in this run.\n\n")
	sb.WriteString("| variant | workload | conns | time × raw (paired median) | 95% interval | time × raw (min) | cpu × raw | extra B/op | extra allocs/op | verdict |\n|---|---|---:|---:|---|---:|---:|---:|---:|---|\n")
	list := append([]target{{variant: suite.Control}}, targetList...)
	for _, t := range list {
		if !slices.ContainsFunc(r.variants, func(v suite.Variant) bool { return v.Name == t.variant }) {
			continue // not run this time (-variants)
		}
		for _, w := range r.workloads {
			if t.workloads != nil && !slices.Contains(t.workloads, w.Name) {
				continue
			}
			for _, conns := range connCounts {
				k, bk := caseKey{work: w.Name, variant: t.variant, conns: conns}, caseKey{work: w.Name, variant: suite.Raw, conns: conns}
				base, s := r.summary(bk), r.summary(k)
				pr, lo, hi := r.pairedCI(k, bk)
				cr, direct := r.cpuRatios(k, bk)
				if t.maxCPU > 0 {
					cr = direct
				}
				var miss []string
				if maxCPU := cmp.Or(t.maxCPU, t.maxTime); cr > maxCPU {
					miss = append(miss, fmt.Sprintf("cpu ×%.3f > ×%.2f", cr, maxCPU))
				}
				if pr > t.maxTime {
					miss = append(miss, fmt.Sprintf("wall ×%.3f > ×%.2f", pr, t.maxTime))
				}
				if d := s.allocs - base.allocs; d > t.maxAllocs {
					miss = append(miss, fmt.Sprintf("%+.0f allocs", d))
				}
				if t.sameBytes && !sameBytes(s.bytes, base.bytes) {
					miss = append(miss, fmt.Sprintf("%+.0f B", s.bytes-base.bytes))
				}
				verdict := "ok"
				switch {
				case t.maxTime == 0:
					verdict = "control"
				case len(miss) > 0:
					verdict = "MISS: " + strings.Join(miss, ", ")
				}
				// Say so when the method cannot resolve the time limit in this cell: the A/A
				// control's interval is wider than the margin the limit allows.
				ck := caseKey{work: w.Name, variant: suite.Control, conns: conns}
				if _, clo, chi := r.pairedCI(ck, bk); t.maxTime > 0 && len(r.timing(ck)) > 0 && (chi-clo)/2 > t.maxTime-1 {
					verdict += fmt.Sprintf(" (time unresolved here: control ×%.3f–×%.3f)", clo, chi)
				}
				fmt.Fprintf(&sb, "| %s | %s | %d | ×%.3f | ×%.3f – ×%.3f | %s | ×%.3f | %+.0f | %+.0f | %s |\n", t.variant, w.Name, conns,
					pr, lo, hi, ratio(s.ns, base.ns), cr, s.bytes-base.bytes, s.allocs-base.allocs, verdict)
			}
		}
	}
	sb.WriteString("\n")
	return sb.String()
}

// floorGoal is how far above the SDK's bare-span floor the recording OpenTelemetry middleware
// may be, in ratio to raw, on every workload.
const floorGoal = 0.02

// floorTable compares the recording OpenTelemetry middleware with the SDK's own cost for the
// spans it emits: bare (span-floor) and with its attributes (span-floor-attrs).
func (r *report) floorTable() string {
	has := func(name string) bool {
		return slices.ContainsFunc(r.variants, func(v suite.Variant) bool { return v.Name == name })
	}
	if !has("pgotel-sdk") || !has("span-floor") {
		return ""
	}
	attrs := has("span-floor-attrs")
	var sb strings.Builder
	sb.WriteString("### OpenTelemetry recording against the SDK's floor\n\n")
	fmt.Fprintf(&sb, "pgotel-sdk against span-floor (the same spans on the same SDK tracer, bare) and span-floor-attrs (the same spans with pgotel's attributes): paired medians of the ratio to raw, as in the targets above. Goal: pgotel-sdk ≤ span-floor + %.2f on every workload.\n\n", floorGoal)
	sb.WriteString("| workload | conns | pgotel-sdk | span-floor | difference | span-floor-attrs | difference | verdict |\n|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, w := range r.workloads {
		for _, conns := range connCounts {
			bk := caseKey{work: w.Name, variant: suite.Raw, conns: conns}
			sdk, _, _ := r.pairedCI(caseKey{work: w.Name, variant: "pgotel-sdk", conns: conns}, bk)
			floor, _, _ := r.pairedCI(caseKey{work: w.Name, variant: "span-floor", conns: conns}, bk)
			af, ad := "—", "—"
			if attrs {
				a, _, _ := r.pairedCI(caseKey{work: w.Name, variant: "span-floor-attrs", conns: conns}, bk)
				af, ad = fmt.Sprintf("×%.3f", a), fmt.Sprintf("%+.3f", sdk-a)
			}
			verdict := "ok"
			if sdk-floor > floorGoal {
				verdict = fmt.Sprintf("MISS: %+.3f > +%.2f", sdk-floor, floorGoal)
			}
			fmt.Fprintf(&sb, "| %s | %d | ×%.3f | ×%.3f | %+.3f | %s | %s | %s |\n", w.Name, conns, sdk, floor, sdk-floor, af, ad, verdict)
		}
	}
	sb.WriteString("\n")
	return sb.String()
}

func (r *report) memoryTable() string {
	var sb strings.Builder
	var raw float64
	for _, m := range r.mem {
		if m.variant == suite.Raw {
			raw = m.perConn
		}
	}
	fmt.Fprintf(&sb, "### Heap per open connection (%d connections open at once, live heap after GC)\n\n", r.opts.memConns)
	sb.WriteString("| variant | B per connection | overhead vs raw | target ≤ 512 B |\n|---|---:|---:|---|\n")
	for _, m := range r.mem {
		verdict := ""
		if m.variant == "empty" || m.variant == "five" {
			verdict = "ok"
			if m.perConn-raw > 512 {
				verdict = "MISS"
			}
		}
		fmt.Fprintf(&sb, "| %s | %.0f | %+.0f | %s |\n", m.variant, m.perConn, m.perConn-raw, verdict)
	}
	sb.WriteString("\n")
	return sb.String()
}

func (r *report) markdown(tables string) string {
	m := r.machine
	var sb strings.Builder
	sb.WriteString("# Benchmark results\n\n")
	sb.WriteString("Generated by `bench/run.sh` (`go run ./cmd/benchreport` in bench/); do not edit by hand.\n\n")
	sb.WriteString("## Machine\n\n")
	fmt.Fprintf(&sb, "- date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&sb, "- pgprovider: commit %s\n", m.Commit)
	fmt.Fprintf(&sb, "- nproc: %d; CPU: %s; kernel %s\n", m.NProc, m.CPU, m.Kernel)
	fmt.Fprintf(&sb, "- Go: %s; GOMAXPROCS during the benchmarks: %d\n", m.Go, m.GOMAXPROCS)
	fmt.Fprintf(&sb, "- load average (1, 5, 15 min) before: %s; after: %s (other work on the machine adds noise to the times, not to B/op and allocs/op)\n", m.LoadBefore, m.LoadAfter)
	fmt.Fprintf(&sb, "- PostgreSQL: %s (temporary cluster from the project's harness, fsync=off, over TCP loopback)\n", m.Postgres)
	for _, mod := range m.Modules {
		fmt.Fprintf(&sb, "- %s\n", mod)
	}
	if m.Pinned {
		fmt.Fprintf(&sb, "- pinning: the benchmark process (every thread) and the server backends of its connections on CPU %d (sched_setaffinity)\n", r.opts.cpu)
	} else {
		sb.WriteString("- pinning: none\n")
	}
	fmt.Fprintf(&sb, "- method: %d interleaved rounds; in each round every (workload, connections, variant) case runs once for %s (testing.Benchmark), the variants in a new random order each round; tables show the fastest sample's wall time and client CPU time, and the median B/op and allocs/op (integers per operation, as go test reports them; B/op counts as equal to raw within 8 bytes, the amortised noise). Connections are opened before timing and reused (pool size = connections; each variant holds %d such pools per connection count, taken in turn by the rounds and the blocks, so that no ratio rests on one set of server backends). Parallel cases run 8 goroutines over 8 connections. Total run time: %s.\n\n",
		r.opts.rounds, r.opts.benchtime, r.opts.pools, r.elapsed.Round(time.Second))
	sb.WriteString("## How to run\n\n")
	sb.WriteString("- full run, rewrites this file: `bench/run.sh` (about 50 minutes on an idle machine: 16 rounds of every case, then 600 interleaved blocks of 100 operations of every 1-connection case and 300 blocks of 8 × 100 operations of every 8-connection case; `BENCH_DSN=... bench/run.sh` uses an existing server, without pinning its backends)\n")
	sb.WriteString("- a subset, for example the observability variants on SELECT 1: `bench/run.sh -variants raw2,span-floor,pgotel-noop,pgotel-sdk,otelsql-sdk -workloads select1 -conns 1 -rounds 4 -out /tmp/r.md`\n")
	sb.WriteString("- smoke run for CI (one iteration of every case of every package in bench/, memory check with 100 connections, the scale and replica measurements in small; about a minute): `cd bench && go test -short -count=1 -bench . -benchtime=1x ./...`\n")
	sb.WriteString("- plain go test benchmarks of the driver, variants side by side: `cd bench && BENCH_PIN=1 go test -run '^$' -bench Driver -count 6 | tee out.txt && benchstat -col /variant out.txt`\n")
	sb.WriteString("- client-side cost per operation without a server (database/sql over a backend that answers at once, directly and through pgprovider: empty chain, five pass-through, pgotel no-op, retry's happy path, tenancy with the same tenant or a switch per statement): `cd bench && go test -run '^$' -bench Client -count 6 | tee c.txt && benchstat -col /variant c.txt`\n")
	sb.WriteString("- tracing alone, without a server (pgotel around do-nothing executors; the OpenTelemetry SDK's own span, BenchmarkSDKFloor): `cd bench && go test -run '^$' -bench . -count 6 ./otelbench/`\n")
	sb.WriteString("- 1 000 tenants rotating per statement and 1 000 open connections, rewrites RESULTS-scale.md: `cd bench && PGPROVIDER_MEASURE=1 go test -run TestScale -v -timeout 60m ./scale/`\n")
	sb.WriteString("- replica failover over 20 runs and replica reads against raw pgx stdlib, rewrites RESULTS-replica.md: `cd bench && PGPROVIDER_MEASURE=1 go test -run TestReplicaFigures -v -timeout 30m ./replicabench/`\n\n")
	sb.WriteString("## Variants\n\n")
	for _, v := range r.variants {
		fmt.Fprintf(&sb, "- `%s`: %s\n", v.Name, v.Doc)
	}
	sb.WriteString("\n## Workloads\n\n")
	for _, w := range r.workloads {
		fmt.Fprintf(&sb, "- `%s`: %s\n", w.Name, w.Doc)
	}
	sb.WriteString("\n## Results\n\n")
	sb.WriteString(tables)
	sb.WriteString("## benchstat\n\n`benchstat -col /variant` over all samples (median and 95% confidence interval; raw pgx stdlib is the base column).\n\n```\n")
	sb.WriteString(r.benchstat)
	sb.WriteString("\n```\n")
	return sb.String()
}
