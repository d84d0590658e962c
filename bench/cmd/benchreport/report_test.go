package main

import (
	"strings"
	"testing"

	"github.com/pgprovider/pgprovider/bench/internal/suite"
)

// fakeReport builds a report with one sample per case, every case costing base, except the
// variant under test, which costs ns, bytes and allocs.
func fakeReport(variant string, ns, bytes, allocs float64) *report {
	r := &report{opts: options{rounds: 1, memConns: 10}, variants: suite.Variants(), workloads: suite.Workloads(),
		samples: map[caseKey][]sample{}}
	for _, w := range r.workloads {
		for _, conns := range connCounts {
			for _, v := range r.variants {
				s := sample{nsPerOp: 1000, cpuPerOp: 500, bytesPerOp: 500, allocsPerOp: 10}
				if v.Name == variant {
					s = sample{nsPerOp: ns, cpuPerOp: ns / 2, bytesPerOp: bytes, allocsPerOp: allocs}
				}
				r.samples[caseKey{work: w.Name, variant: v.Name, conns: conns}] = []sample{s, {nsPerOp: s.nsPerOp * 2, bytesPerOp: s.bytesPerOp, allocsPerOp: s.allocsPerOp}}
			}
		}
	}
	return r
}

func TestTargets(t *testing.T) {
	tests := []struct {
		name              string
		variant           string
		ns, bytes, allocs float64
		wantMiss          string // expected in the targets table; empty: no miss at all
	}{
		{name: "all equal", variant: "other", ns: 1000, bytes: 500, allocs: 10},
		{name: "empty slower", variant: "empty", ns: 1030, bytes: 500, allocs: 10, wantMiss: "MISS: wall ×1.030 > ×1.02"},
		{name: "empty allocates", variant: "empty", ns: 1000, bytes: 532, allocs: 11, wantMiss: "MISS: +1 allocs, +32 B"},
		{name: "empty amortised bytes", variant: "empty", ns: 1000, bytes: 505, allocs: 10},
		{name: "five within", variant: "five", ns: 1029, bytes: 900, allocs: 15},
		{name: "five too many allocs", variant: "five", ns: 1000, bytes: 900, allocs: 16, wantMiss: "MISS: +6 allocs"},
		{name: "five slower", variant: "five", ns: 1050, bytes: 500, allocs: 10, wantMiss: "MISS: wall ×1.050 > ×1.03"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fakeReport(tt.variant, tt.ns, tt.bytes, tt.allocs).targets()
			if tt.wantMiss == "" {
				if strings.Contains(got, "MISS") {
					t.Errorf("unexpected miss:\n%s", got)
				}
				return
			}
			if !strings.Contains(got, tt.wantMiss) {
				t.Errorf("want %q in:\n%s", tt.wantMiss, got)
			}
		})
	}
}

func TestSummaryTakesFastestTimeAndMedianAllocs(t *testing.T) {
	r := &report{samples: map[caseKey][]sample{{work: "w", variant: "v", conns: 1}: {
		{nsPerOp: 300, bytesPerOp: 10, allocsPerOp: 3},
		{nsPerOp: 100, bytesPerOp: 30, allocsPerOp: 1},
		{nsPerOp: 200, bytesPerOp: 20, allocsPerOp: 2},
	}}}
	got := r.summary(caseKey{work: "w", variant: "v", conns: 1})
	want := summary{ns: 100, nsMedian: 200, bytes: 20, allocs: 2}
	if got != want {
		t.Errorf("summary = %+v, want %+v", got, want)
	}
}

func TestMemoryTable(t *testing.T) {
	r := &report{opts: options{memConns: 10}, mem: []memResult{
		{variant: suite.Raw, perConn: 1000}, {variant: "empty", perConn: 1500}, {variant: "five", perConn: 1600},
	}}
	got := r.memoryTable()
	for _, want := range []string{"| empty | 1500 | +500 | ok |", "| five | 1600 | +600 | MISS |"} {
		if !strings.Contains(got, want) {
			t.Errorf("want %q in:\n%s", want, got)
		}
	}
}
