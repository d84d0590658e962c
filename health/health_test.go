package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pgprovider/pgprovider/health"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/listen"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m, pgtest.Options{})
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

type pingFunc func(ctx context.Context) error

func (f pingFunc) PingContext(ctx context.Context) error { return f(ctx) }

type fakeListener listen.Stats

func (f fakeListener) Stats() listen.Stats { return listen.Stats(f) }

func get(t *testing.T, h http.Handler, method string) (int, health.Report) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, "/", nil))
	var rep health.Report
	if method != http.MethodHead {
		if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
			t.Fatalf("body %q: %v", rec.Body.String(), err)
		}
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	return rec.Code, rep
}

func find(rep health.Report, name string) *health.Result {
	for i := range rep.Checks {
		if rep.Checks[i].Name == name {
			return &rep.Checks[i]
		}
	}
	return nil
}

func TestReadinessTable(t *testing.T) {
	ok := pingFunc(func(context.Context) error { return nil })
	down := pingFunc(func(context.Context) error { return errors.New("connection refused") })
	hang := pingFunc(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	nodes := func(lag time.Duration, healthy bool) func() []health.Node {
		return func() []health.Node {
			return []health.Node{{Name: "a:1", Role: "primary", Primary: true, Healthy: true},
				{Name: "b:1", Role: "standby", Healthy: healthy, Lag: lag}}
		}
	}
	tests := []struct {
		name     string
		db       health.Pinger
		opts     []health.Option
		code     int
		failing  string // a check expected to fail
		errMatch string
	}{
		{name: "primary up", db: ok, code: 200},
		{name: "primary down", db: down, code: 503, failing: "primary"},
		{name: "primary hangs", db: hang, opts: []health.Option{health.WithTimeout(50 * time.Millisecond)}, code: 503, failing: "primary"},
		{name: "no db, no checks", code: 200},
		{name: "replica lagging, informational", db: ok, opts: []health.Option{health.WithReplicas(nodes(time.Hour, true)), health.WithMaxLag(time.Second)}, code: 200},
		{name: "replica lagging, required", db: ok, opts: []health.Option{health.WithReplicas(nodes(time.Hour, true)), health.WithMaxLag(time.Second), health.WithMinReplicas(1)}, code: 503, failing: "replicas"},
		{name: "replica down, required", db: ok, opts: []health.Option{health.WithReplicas(nodes(0, false)), health.WithMinReplicas(1)}, code: 503, failing: "replicas"},
		{name: "replica fine, required", db: ok, opts: []health.Option{health.WithReplicas(nodes(10*time.Millisecond, true)), health.WithMaxLag(time.Second), health.WithMinReplicas(1)}, code: 200},
		{name: "listener connected", db: ok, opts: []health.Option{health.WithListener(fakeListener{Connected: true, Subscriptions: 1})}, code: 200},
		{name: "listener idle", db: ok, opts: []health.Option{health.WithListener(fakeListener{})}, code: 200},
		{name: "listener down", db: ok, opts: []health.Option{health.WithListener(fakeListener{Subscriptions: 2})}, code: 503, failing: "listener"},
		{name: "info check fails", db: ok, opts: []health.Option{health.WithInfo("cache", func(context.Context) (any, error) { return nil, errors.New("cold") })}, code: 200, failing: "cache"},
		{name: "critical check fails", db: ok, opts: []health.Option{health.WithCheck("queue", func(context.Context) (any, error) { return nil, errors.New("full") })}, code: 503, failing: "queue"},
		{name: "check panics", db: ok, opts: []health.Option{health.WithCheck("bad", func(context.Context) (any, error) { panic("boom") })}, code: 503, failing: "bad", errMatch: "check panicked: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := health.New(tt.db, tt.opts...)
			code, rep := get(t, h.Readiness(), http.MethodGet)
			if code != tt.code {
				t.Fatalf("code = %d, want %d; report %+v", code, tt.code, rep)
			}
			if tt.failing != "" {
				r := find(rep, tt.failing)
				if r == nil || r.Status != "fail" || r.Error == "" {
					t.Fatalf("check %s = %+v, want a failure", tt.failing, r)
				}
				if tt.errMatch != "" && r.Error != tt.errMatch {
					t.Fatalf("error = %q, want %q", r.Error, tt.errMatch)
				}
			}
			if code, rep := get(t, h.Liveness(), http.MethodGet); code != 200 || !rep.OK() {
				t.Fatalf("liveness = %d %+v", code, rep)
			}
		})
	}
}

func TestTimeoutBoundsProbe(t *testing.T) {
	release := make(chan struct{})
	stuck := func(context.Context) (any, error) { <-release; return nil, nil } // ignores ctx
	h := health.New(nil, health.WithTimeout(30*time.Millisecond), health.WithCheck("stuck", stuck))
	start := time.Now()
	code, rep := get(t, h.Readiness(), http.MethodGet)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("probe took %v", d)
	}
	if code != 503 || find(rep, "stuck").Error == "" {
		t.Fatalf("code %d report %+v", code, rep)
	}
	close(release) // the check's goroutine ends now; goleak in TestMain verifies it
}

func TestCacheAndSingleFlight(t *testing.T) {
	var pings atomic.Int32
	gate, started := make(chan struct{}), make(chan struct{}, 1)
	db := pingFunc(func(ctx context.Context) error {
		pings.Add(1)
		started <- struct{}{}
		<-gate
		return nil
	})
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h := health.New(db, health.WithCacheTTL(time.Second), health.WithClock(clock))

	var wg sync.WaitGroup
	reports := make([]health.Report, 20)
	for i := range reports {
		wg.Go(func() { reports[i] = h.Check(context.Background()) })
	}
	<-started // probes arriving from now on join the running evaluation or hit the cache
	close(gate)
	wg.Wait()
	if n := pings.Load(); n != 1 {
		t.Fatalf("%d pings for 20 concurrent probes, want 1", n)
	}
	if rep := h.Check(context.Background()); !rep.Cached || !rep.OK() {
		t.Fatalf("second probe not cached: %+v", rep)
	}
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	if rep := h.Check(context.Background()); rep.Cached || pings.Load() != 2 {
		t.Fatalf("expired cache not refreshed: %+v, pings %d", rep, pings.Load())
	}
}

func TestProbeCancelled(t *testing.T) {
	gate := make(chan struct{})
	h := health.New(pingFunc(func(ctx context.Context) error { <-gate; return nil }))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if rep := h.Check(ctx); rep.OK() {
		t.Fatalf("cancelled probe reported ok: %+v", rep)
	}
	close(gate)
	if rep := h.Check(context.Background()); !rep.OK() {
		t.Fatalf("report after release: %+v", rep)
	}
}

func TestHeadAndLivenessCheck(t *testing.T) {
	h := health.New(pingFunc(func(context.Context) error { return errors.New("down") }),
		health.WithLivenessCheck("worker", func(context.Context) (any, error) { return nil, errors.New("wedged") }))
	if code, _ := get(t, h, http.MethodHead); code != 503 {
		t.Fatalf("HEAD readiness = %d", code)
	}
	code, rep := get(t, h.Liveness(), http.MethodGet)
	if code != 503 || find(rep, "worker") == nil {
		t.Fatalf("liveness = %d %+v", code, rep)
	}
}
