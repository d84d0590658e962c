// Package pgprom is pgprovider's Prometheus collector: pool gauges and counters read from a
// *sql.DB at scrape time (what client_golang's DBStatsCollector reports), plus what only the
// driver sees, read from pgprovider's in-driver recorder (package middleware/metrics):
// operation durations by operation and status, errors by SQLSTATE class, connection creation
// times and retry attempts. Nothing is recorded twice: the hot path updates the recorder, and
// the collector reads it when Prometheus scrapes. Every metric name starts with "pgprovider_".
//
// Every metric carries a constant "pool" label, so one collector per pool (primary and each
// replica) registers side by side; registering the same pool name twice in one registry
// returns an error.
package pgprom

import (
	"database/sql"
	"errors"
	"sync"

	"github.com/pgprovider/pgprovider/internal/recorder"
	"github.com/pgprovider/pgprovider/middleware/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// namespace is the prefix of every metric name.
const namespace = "pgprovider"

type config struct {
	rec    *metrics.Recorder
	pool   string
	labels prometheus.Labels
}

// Option configures a [Collector].
type Option func(*config)

// WithRecorder adds the operation, connection-creation and retry metrics read from rec.
func WithRecorder(rec *metrics.Recorder) Option { return func(c *config) { c.rec = rec } }

// WithPoolName sets the "pool" label (default "primary").
func WithPoolName(name string) Option { return func(c *config) { c.pool = name } }

// WithConstLabels adds constant labels to every metric (for example the service name).
func WithConstLabels(l prometheus.Labels) Option { return func(c *config) { c.labels = l } }

// Collector is a prometheus.Collector for one pgprovider pool. Build it with [NewCollector] or
// [Register].
type Collector struct {
	db  *sql.DB
	rec *recorder.Recorder

	maxOpen, open, inUse, idle                          *prometheus.Desc
	waitCount, waitDur, idleClosed, idleTimeCl          *prometheus.Desc
	lifetimeCl, opDur, opErr, createDur, create, useDur *prometheus.Desc
	attempts                                            *prometheus.Desc

	mu         sync.Mutex
	described  bool
	sources    []prometheus.Collector
	registerer prometheus.Registerer
}

// ErrRegistered is returned by [Collector.AddSource] once the collector is registered with a
// registry other than through [Register].
var ErrRegistered = errors.New("pgprom: collector already registered: register the source with the registry")

// NewCollector returns a collector for db (which may be nil to export only the recorder).
func NewCollector(db *sql.DB, opts ...Option) *Collector {
	cfg := config{pool: "primary"}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	labels := prometheus.Labels{"pool": cfg.pool}
	for k, v := range cfg.labels {
		labels[k] = v
	}
	d := func(name, help string, varLabels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, varLabels, labels)
	}
	return &Collector{
		db: db, rec: recorder.Of(cfg.rec),
		maxOpen:    d("pool_max_open_connections", "Maximum number of open connections to the database (0: unlimited)."),
		open:       d("pool_open_connections", "The number of established connections, in use and idle."),
		inUse:      d("pool_in_use_connections", "The number of connections currently in use."),
		idle:       d("pool_idle_connections", "The number of idle connections."),
		waitCount:  d("pool_wait_count_total", "The total number of connections waited for."),
		waitDur:    d("pool_wait_duration_seconds_total", "The total time blocked waiting for a new connection."),
		idleClosed: d("pool_max_idle_closed_total", "The total number of connections closed due to SetMaxIdleConns."),
		idleTimeCl: d("pool_max_idle_time_closed_total", "The total number of connections closed due to SetConnMaxIdleTime."),
		lifetimeCl: d("pool_max_lifetime_closed_total", "The total number of connections closed due to SetConnMaxLifetime."),
		opDur:      d("operation_duration_seconds", "Duration of database operations, result-set reading and retries included.", "operation", "status"),
		opErr:      d("operation_errors_total", "Failed operations by SQLSTATE class (or a short error type when the server did not answer).", "operation", "sqlstate_class"),
		createDur:  d("connection_create_duration_seconds", "Time taken to open a backend connection."),
		useDur:     d("connection_use_duration_seconds", "Time a connection was held, from checkout to its return to the pool."),
		create:     d("connection_create_errors_total", "Failed attempts to open a backend connection."),
		attempts:   d("retry_attempts_total", "Retry attempts beyond the first, as reported by retry middleware."),
	}
}

// Register builds a collector for db and registers it with reg. Registering a second
// collector with the same pool name (and constant labels) in reg returns an error.
func Register(reg prometheus.Registerer, db *sql.DB, opts ...Option) (*Collector, error) {
	c := NewCollector(db, opts...)
	if err := reg.Register(c); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.registerer = reg
	c.mu.Unlock()
	return c, nil
}

// AddSource adds another source of metrics that belongs with this pool, such as replica
// health and lag or listener statistics. Before registration, the source is described and
// collected with the collector; after [Register], it is registered with the same registry
// (its errors returned). After a registration made elsewhere it returns [ErrRegistered].
func (c *Collector) AddSource(src prometheus.Collector) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.registerer != nil {
		return c.registerer.Register(src)
	}
	if c.described {
		return ErrRegistered
	}
	c.sources = append(c.sources, src)
	return nil
}

// Describe sends the descriptors of every metric, sources included.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.mu.Lock()
	c.described = true
	srcs := append([]prometheus.Collector(nil), c.sources...)
	c.mu.Unlock()
	for _, d := range []*prometheus.Desc{c.maxOpen, c.open, c.inUse, c.idle, c.waitCount, c.waitDur, c.idleClosed,
		c.idleTimeCl, c.lifetimeCl, c.opDur, c.opErr, c.createDur, c.create, c.useDur, c.attempts} {
		ch <- d
	}
	for _, s := range srcs {
		s.Describe(ch)
	}
}

// Collect reads the pool and the recorder.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if c.db != nil {
		c.collectPool(ch)
	}
	if c.rec != nil {
		c.collectRecorder(ch)
	}
	c.mu.Lock()
	srcs := append([]prometheus.Collector(nil), c.sources...)
	c.mu.Unlock()
	for _, s := range srcs {
		s.Collect(ch)
	}
}

func (c *Collector) collectPool(ch chan<- prometheus.Metric) {
	s := c.db.Stats()
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	k := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	g(c.maxOpen, float64(s.MaxOpenConnections))
	g(c.open, float64(s.OpenConnections))
	g(c.inUse, float64(s.InUse))
	g(c.idle, float64(s.Idle))
	k(c.waitCount, float64(s.WaitCount))
	k(c.waitDur, s.WaitDuration.Seconds())
	k(c.idleClosed, float64(s.MaxIdleClosed))
	k(c.idleTimeCl, float64(s.MaxIdleTimeClosed))
	k(c.lifetimeCl, float64(s.MaxLifetimeClosed))
}

type opKey struct{ op, status string }

func (c *Collector) collectRecorder(ch chan<- prometheus.Metric) {
	hists := map[opKey]*recorder.HistogramSnapshot{}
	errs := map[opKey]uint64{}
	c.rec.Ops(func(o recorder.OpStats) {
		op := o.Operation
		if op == "" {
			op = "OTHER"
		}
		status := "ok"
		if o.ErrorType != "" {
			status = "error"
			cls := o.Class
			switch {
			case o.ErrorType == "canceled" || o.ErrorType == "no_rows" || o.ErrorType == "skip":
				status = "canceled"
			case cls == "":
				cls = errorKind(o.ErrorType)
			}
			if status == "error" {
				errs[opKey{op, cls}] += o.Duration.Count
			}
		}
		k := opKey{op, status}
		h := hists[k]
		if h == nil {
			h = new(recorder.HistogramSnapshot)
			hists[k] = h
		}
		for i := range h.Counts {
			h.Counts[i] += o.Duration.Counts[i]
		}
		h.Count += o.Duration.Count
		h.Sum += o.Duration.Sum
	})
	for k, h := range hists {
		ch <- prometheus.MustNewConstHistogram(c.opDur, h.Count, h.Sum, h.Cumulative(), k.op, k.status)
	}
	for k, n := range errs {
		ch <- prometheus.MustNewConstMetric(c.opErr, prometheus.CounterValue, float64(n), k.op, k.status)
	}
	cs, failed := c.rec.ConnectStats()
	ch <- prometheus.MustNewConstHistogram(c.createDur, cs.Count, cs.Sum, cs.Cumulative())
	us := c.rec.UseStats()
	ch <- prometheus.MustNewConstHistogram(c.useDur, us.Count, us.Sum, us.Cumulative())
	ch <- prometheus.MustNewConstMetric(c.create, prometheus.CounterValue, float64(failed))
	ch <- prometheus.MustNewConstMetric(c.attempts, prometheus.CounterValue, float64(c.rec.Attempts()))
}

// errorKind bounds non-SQLSTATE error types to a fixed set.
func errorKind(t string) string {
	switch t {
	case "timeout", "bad_conn", "outcome_unknown":
		return t
	}
	return "other"
}
