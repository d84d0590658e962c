package pgprom_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/middleware/metrics"
	pgprom "github.com/pgprovider/pgprovider/middleware/pgprom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, pgtest.Options{})) }

func open(t *testing.T, mws ...middleware.Middleware) *sql.DB {
	t.Helper()
	db, err := pgprovider.Open(pgtest.Shared(t).Primary().DSN(), pgprovider.WithMiddleware(mws...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCollectorOverHTTP(t *testing.T) {
	rec := metrics.New()
	retry := middleware.Wrappers{Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
		return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
			res, err := next(ctx, s)
			if err != nil && strings.Contains(s.SQL, "/ 0") {
				rec.AddAttempts(1)
				res, err = next(ctx, s)
			}
			return res, err
		}
	}}
	db := open(t, rec, retry)
	db.SetMaxOpenConns(7)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS prom_items (id int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "TRUNCATE prom_items"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_, _ = db.ExecContext(ctx, "INSERT INTO prom_items VALUES (1)") // 1 success, 2 unique violations
	}
	if _, err := db.ExecContext(ctx, "SELECT 1 / 0"); err == nil {
		t.Fatal("expected division by zero")
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM prom_items").Scan(&n); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _ = db.ExecContext(cctx, "SELECT 1")

	reg := prometheus.NewRegistry()
	c, err := pgprom.Register(reg, db, pgprom.WithRecorder(rec))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pgprom.Register(reg, db, pgprom.WithRecorder(rec)); err == nil {
		t.Fatal("registering the same pool twice succeeded")
	} else if are := (prometheus.AlreadyRegisteredError{}); !errors.As(err, &are) {
		t.Fatalf("second registration: %v", err)
	}
	if _, err := pgprom.Register(reg, db, pgprom.WithPoolName("replica-1")); err != nil {
		t.Fatalf("second pool: %v", err)
	}
	lag := prometheus.NewGauge(prometheus.GaugeOpts{Name: "pgprovider_replica_lag_seconds", Help: "test source", ConstLabels: prometheus.Labels{"pool": "replica-1"}})
	lag.Set(0.25)
	if err := c.AddSource(lag); err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("server not on loopback: %s", srv.URL)
	}
	expected := `
# HELP pgprovider_operation_errors_total Failed operations by SQLSTATE class (or a short error type when the server did not answer).
# TYPE pgprovider_operation_errors_total counter
pgprovider_operation_errors_total{operation="INSERT",pool="primary",sqlstate_class="23"} 2
pgprovider_operation_errors_total{operation="SELECT",pool="primary",sqlstate_class="22"} 1
# HELP pgprovider_pool_max_open_connections Maximum number of open connections to the database (0: unlimited).
# TYPE pgprovider_pool_max_open_connections gauge
pgprovider_pool_max_open_connections{pool="primary"} 7
pgprovider_pool_max_open_connections{pool="replica-1"} 7
# HELP pgprovider_retry_attempts_total Retry attempts beyond the first, as reported by retry middleware.
# TYPE pgprovider_retry_attempts_total counter
pgprovider_retry_attempts_total{pool="primary"} 1
# HELP pgprovider_replica_lag_seconds test source
# TYPE pgprovider_replica_lag_seconds gauge
pgprovider_replica_lag_seconds{pool="replica-1"} 0.25
`
	if err := testutil.ScrapeAndCompare(srv.URL, strings.NewReader(expected), "pgprovider_operation_errors_total",
		"pgprovider_pool_max_open_connections", "pgprovider_retry_attempts_total", "pgprovider_replica_lag_seconds"); err != nil {
		t.Fatal(err)
	}
	body := scrape(t, srv.URL)
	for _, want := range []string{
		`pgprovider_operation_duration_seconds_count{operation="INSERT",pool="primary",status="ok"} 1`,
		`pgprovider_operation_duration_seconds_count{operation="INSERT",pool="primary",status="error"} 2`,
		`pgprovider_operation_duration_seconds_count{operation="SELECT",pool="primary",status="ok"} 1`,
		`pgprovider_operation_duration_seconds_bucket{operation="SELECT",pool="primary",status="ok",le="10"} 1`,
		`pgprovider_operation_duration_seconds_count{operation="DDL",pool="primary",status="ok"} 2`,
		`pgprovider_connection_create_errors_total{pool="primary"} 0`,
		`pgprovider_pool_wait_count_total{pool="primary"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if !strings.Contains(body, `pgprovider_connection_use_duration_seconds_count{pool="primary"} `) ||
		strings.Contains(body, `pgprovider_connection_use_duration_seconds_count{pool="primary"} 0`) {
		t.Errorf("connection use time missing or empty")
	}
	if !strings.Contains(body, `pgprovider_connection_create_duration_seconds_count{pool="primary"} `) ||
		strings.Contains(body, `pgprovider_connection_create_duration_seconds_count{pool="primary"} 0`) {
		t.Error("connection create time not recorded")
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestAddSourceBeforeAndAfterRegistration(t *testing.T) {
	g := func(name string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "h"})
	}
	c := pgprom.NewCollector(nil)
	if err := c.AddSource(g("pgprovider_listener_subscriptions")); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c); n != 1 {
		t.Fatalf("collected %d metrics, want 1", n)
	}
	if err := c.AddSource(g("x")); !errors.Is(err, pgprom.ErrRegistered) {
		t.Fatalf("AddSource after registration: %v", err)
	}
}
