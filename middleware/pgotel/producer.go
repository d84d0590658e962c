package pgotel

import (
	"context"
	"database/sql"
	"time"

	"github.com/pgprovider/pgprovider/internal/recorder"
	"github.com/pgprovider/pgprovider/middleware/metrics"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Pool is a *sql.DB whose database/sql pool statistics become connection metrics.
type Pool struct {
	// Name is db.client.connection.pool.name: "primary", "replica-1", ... unique per process.
	Name string
	// DB is the pool.
	DB *sql.DB
	// IdleMax is the value given to DB.SetMaxIdleConns (database/sql does not report it);
	// 0 means database/sql's default of 2.
	IdleMax int
}

// Producer exports pgprovider's metrics to an OpenTelemetry SDK reader: register it with
// sdkmetric.WithProducer on the reader (periodic or manual). It reads the recorder and the
// pools when the reader collects, so operations pay only for the recorder's atomic updates.
//
// Metrics: db.client.operation.duration (histogram, s, semantic-convention buckets;
// db.system.name, db.operation.name, error.type, db.response.status_code, server.address,
// server.port), db.client.connection.create_time (histogram, s),
// db.client.connection.count{db.client.connection.state=idle|used}, db.client.connection.max,
// db.client.connection.idle.max, db.client.connection.wait_time (histogram without bucket
// bounds: database/sql only reports a count and a total), all with
// db.client.connection.pool.name, and db.client.connection.use_time (histogram, s: from a
// checkout, seen as a new connection or a pool reset, to the return to the pool, seen as
// middleware.OpRelease).
type Producer struct {
	cfg   config
	rec   *recorder.Recorder
	base  []attribute.KeyValue
	start time.Time
}

// NewProducer returns a producer reading rec (which may be nil when only pools are exported).
// It accepts WithPools, WithPoolName and WithConnConfig; other options are ignored.
func NewProducer(rec *metrics.Recorder, opts ...Option) *Producer {
	p := &Producer{cfg: newConfig(opts), rec: recorder.Of(rec), start: time.Now()}
	if rec != nil {
		p.start = p.rec.Start()
	}
	p.base = append(p.base, keySystem.String(postgresqlName))
	if cc := p.cfg.connCfg; cc != nil && cc.Host != "" {
		p.base = append(p.base, keyServerAddr.String(cc.Host))
		if cc.Port != 0 && cc.Port != defaultPGPort {
			p.base = append(p.base, keyServerPort.Int(int(cc.Port)))
		}
	}
	return p
}

const keyPool = attribute.Key("db.client.connection.pool.name")

// Produce returns the current cumulative metrics.
func (p *Producer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	now := time.Now()
	var ms []metricdata.Metrics
	if p.rec != nil {
		ms = append(ms, p.operations(now), p.createTime(now), p.useTime(now))
	}
	if len(p.cfg.pools) > 0 {
		ms = append(ms, p.poolMetrics(now)...)
	}
	if len(ms) == 0 {
		return nil, nil
	}
	return []metricdata.ScopeMetrics{{Scope: instrumentation.Scope{Name: scopeName}, Metrics: ms}}, nil
}

func (p *Producer) hist(attrs attribute.Set, s recorder.HistogramSnapshot, now time.Time) metricdata.HistogramDataPoint[float64] {
	return metricdata.HistogramDataPoint[float64]{
		Attributes: attrs, StartTime: p.start, Time: now, Count: s.Count,
		Bounds: recorder.Buckets[:], BucketCounts: append([]uint64(nil), s.Counts[:]...), Sum: s.Sum,
	}
}

func (p *Producer) operations(now time.Time) metricdata.Metrics {
	h := metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality}
	p.rec.Ops(func(o recorder.OpStats) {
		kv := append([]attribute.KeyValue(nil), p.base...)
		if o.Operation != "" {
			kv = append(kv, keyOperation.String(o.Operation))
		}
		if o.ErrorType != "" {
			kv = append(kv, keyErrorType.String(o.ErrorType))
			if o.Class != "" {
				kv = append(kv, keyStatus.String(o.ErrorType))
			}
		}
		h.DataPoints = append(h.DataPoints, p.hist(attribute.NewSet(kv...), o.Duration, now))
	})
	return metricdata.Metrics{Name: "db.client.operation.duration", Description: "Duration of database client operations.", Unit: "s", Data: h}
}

func (p *Producer) createTime(now time.Time) metricdata.Metrics {
	s, _ := p.rec.ConnectStats()
	attrs := attribute.NewSet(keyPool.String(p.cfg.poolName))
	return metricdata.Metrics{Name: "db.client.connection.create_time", Description: "The time it took to create a new connection.", Unit: "s",
		Data: metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality, DataPoints: []metricdata.HistogramDataPoint[float64]{p.hist(attrs, s, now)}}}
}

func (p *Producer) useTime(now time.Time) metricdata.Metrics {
	attrs := attribute.NewSet(keyPool.String(p.cfg.poolName))
	return metricdata.Metrics{Name: "db.client.connection.use_time", Description: "The time between borrowing a connection and returning it to the pool.", Unit: "s",
		Data: metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality, DataPoints: []metricdata.HistogramDataPoint[float64]{p.hist(attrs, p.rec.UseStats(), now)}}}
}

func (p *Producer) poolMetrics(now time.Time) []metricdata.Metrics {
	count := metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality}
	maxC := metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality}
	idleMax := metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality}
	wait := metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality}
	for _, pl := range p.cfg.pools {
		st := pl.DB.Stats()
		pool := keyPool.String(pl.Name)
		set := attribute.NewSet(pool)
		dp := func(s attribute.Set, v int) metricdata.DataPoint[int64] {
			return metricdata.DataPoint[int64]{Attributes: s, StartTime: p.start, Time: now, Value: int64(v)}
		}
		state := attribute.Key("db.client.connection.state")
		count.DataPoints = append(count.DataPoints,
			dp(attribute.NewSet(pool, state.String("idle")), st.Idle),
			dp(attribute.NewSet(pool, state.String("used")), st.InUse))
		maxC.DataPoints = append(maxC.DataPoints, dp(set, st.MaxOpenConnections))
		im := pl.IdleMax
		if im == 0 {
			im = 2
		}
		idleMax.DataPoints = append(idleMax.DataPoints, dp(set, im))
		wait.DataPoints = append(wait.DataPoints, metricdata.HistogramDataPoint[float64]{
			Attributes: set, StartTime: p.start, Time: now, Count: uint64(st.WaitCount),
			BucketCounts: []uint64{uint64(st.WaitCount)}, Sum: st.WaitDuration.Seconds(),
		})
	}
	return []metricdata.Metrics{
		{Name: "db.client.connection.count", Description: "The number of connections that are currently in state described by the state attribute.", Unit: "{connection}", Data: count},
		{Name: "db.client.connection.max", Description: "The maximum number of open connections allowed.", Unit: "{connection}", Data: maxC},
		{Name: "db.client.connection.idle.max", Description: "The maximum number of idle open connections allowed.", Unit: "{connection}", Data: idleMax},
		{Name: "db.client.connection.wait_time", Description: "The time it took to obtain an open connection from the pool.", Unit: "s", Data: wait},
	}
}
