package pgotel_test

import (
	"context"
	"testing"

	pgotel "github.com/pgprovider/pgprovider/middleware/pgotel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func collect(t *testing.T, p *pgotel.Producer) map[string]metricdata.Metrics {
	t.Helper()
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(p))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != "github.com/pgprovider/pgprovider/middleware/pgotel" {
			continue
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

func attrString(s attribute.Set) map[string]string {
	m := map[string]string{}
	for _, kv := range s.ToSlice() {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

func TestProducerMetrics(t *testing.T) {
	e := setup(t, nil, nil)
	e.db.SetMaxIdleConns(3)
	mustExec(t, e.db, "CREATE TABLE IF NOT EXISTS otel_m (id int PRIMARY KEY)")
	mustExec(t, e.db, "TRUNCATE otel_m")
	mustExec(t, e.db, "INSERT INTO otel_m VALUES (1)")
	if _, err := e.db.Exec("INSERT INTO otel_m VALUES (1)"); err == nil {
		t.Fatal("expected a unique violation")
	}
	var n int
	if err := e.db.QueryRow("SELECT count(*) FROM otel_m").Scan(&n); err != nil {
		t.Fatal(err)
	}
	tx, err := e.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	p := pgotel.NewProducer(e.rec, pgotel.WithConnConfig(e.cc), pgotel.WithPools(pgotel.Pool{Name: "primary", DB: e.db, IdleMax: 3}))
	ms := collect(t, p)
	for _, name := range []string{"db.client.operation.duration", "db.client.connection.create_time", "db.client.connection.count",
		"db.client.connection.max", "db.client.connection.idle.max", "db.client.connection.wait_time", "db.client.connection.use_time"} {
		if _, ok := ms[name]; !ok {
			t.Errorf("metric %s missing", name)
		}
	}
	type key struct{ op, errType string }
	counts := map[key]uint64{}
	for _, dp := range ms["db.client.operation.duration"].Data.(metricdata.Histogram[float64]).DataPoints {
		a := attrString(dp.Attributes)
		if a["db.system.name"] != "postgresql" || a["server.address"] != e.cc.Host {
			t.Errorf("attributes %v", a)
		}
		if a["error.type"] != "" && a["db.response.status_code"] != a["error.type"] {
			t.Errorf("attributes %v", a)
		}
		if len(dp.Bounds) != 9 || dp.Bounds[0] != 0.001 || dp.Bounds[8] != 10 || len(dp.BucketCounts) != 10 {
			t.Errorf("bounds %v", dp.Bounds)
		}
		counts[key{a["db.operation.name"], a["error.type"]}] += dp.Count
	}
	for k, want := range map[key]uint64{{"INSERT", ""}: 1, {"INSERT", "23505"}: 1, {"SELECT", ""}: 1, {"BEGIN", ""}: 1, {"COMMIT", ""}: 1, {"DDL", ""}: 2} {
		if counts[k] != want {
			t.Errorf("%v: count %d, want %d (all %v)", k, counts[k], want, counts)
		}
	}
	// Every statement above checked a connection out of the pool and returned it.
	if ut := ms["db.client.connection.use_time"].Data.(metricdata.Histogram[float64]).DataPoints[0]; ut.Count < 5 {
		t.Errorf("use_time count %d, want one per checkout (>= 5)", ut.Count)
	}
	ct := ms["db.client.connection.create_time"].Data.(metricdata.Histogram[float64]).DataPoints[0]
	if ct.Count < 1 || attrString(ct.Attributes)["db.client.connection.pool.name"] != "primary" {
		t.Errorf("create_time %+v", ct)
	}
	states := map[string]int64{}
	for _, dp := range ms["db.client.connection.count"].Data.(metricdata.Sum[int64]).DataPoints {
		states[attrString(dp.Attributes)["db.client.connection.state"]] = dp.Value
	}
	if states["idle"] < 1 || states["used"] != 0 {
		t.Errorf("connection counts %v", states)
	}
	if v := ms["db.client.connection.idle.max"].Data.(metricdata.Sum[int64]).DataPoints[0].Value; v != 3 {
		t.Errorf("idle.max %d", v)
	}
}

func TestProducerEmpty(t *testing.T) {
	if sm, err := pgotel.NewProducer(nil).Produce(context.Background()); sm != nil || err != nil {
		t.Fatal(sm, err)
	}
	ms := collect(t, pgotel.NewProducer(nil, pgotel.WithPools(pgotel.Pool{Name: "replica-1", DB: setup(t, nil, nil).db})))
	if v := ms["db.client.connection.idle.max"].Data.(metricdata.Sum[int64]).DataPoints[0].Value; v != 2 {
		t.Errorf("default idle.max %d", v)
	}
}
