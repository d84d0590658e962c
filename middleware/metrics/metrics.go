// Package metrics holds pgprovider's in-driver metrics recorder: one cheap recorder per
// operation kind (atomic counters and fixed-bucket histograms with the OpenTelemetry
// semantic-convention buckets, no allocation on the success path) that both the OpenTelemetry
// exporter (package pgotel) and the Prometheus collector (package pgprom) read, so the hot
// path pays once whatever is exported.
//
// A [Recorder] is a middleware: list it in the chain when no tracing middleware feeds it. The
// OpenTelemetry middleware records into the recorder its WithRecorder option names; do not
// list that recorder in the chain as well, or operations are counted twice.
package metrics

import (
	"github.com/pgprovider/pgprovider/internal/recorder"
	"github.com/pgprovider/pgprovider/middleware"
)

// Recorder accumulates operation durations by operation kind and outcome, connection creation
// times, how long connections are held, and retry attempts. Build it with [New]; it is safe
// for concurrent use. Export it with pgotel.NewProducer and pgprom.WithRecorder.
type Recorder struct{ r *recorder.Recorder }

func init() {
	recorder.Of = func(public any) *recorder.Recorder {
		if p, _ := public.(*Recorder); p != nil {
			return p.r
		}
		return nil
	}
}

// New returns an empty Recorder.
func New() *Recorder { return &Recorder{r: recorder.New()} }

// Wrappers measures connects, statements, result sets and transactions, and how long
// connections are held (from checkout to release); its rank is middleware.RankObserve.
func (r *Recorder) Wrappers(middleware.Connector) middleware.Wrappers {
	return r.r.Wrappers(nil)
}

// AddAttempts adds n retry attempts (attempts beyond the first) to the retry attempts
// counter, which package pgprom exports. Nothing else feeds the counter (pgotel.AddAttemptEvent
// records span events only): call AddAttempts(1) from retry.WithOnAttempt for each attempt
// whose Retry is set.
func (r *Recorder) AddAttempts(n uint64) { r.r.AddAttempts(n) }
