package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/pgprovider/pgprovider/health"
)

// Mount liveness and readiness next to the application's routes, and point the pod's
// livenessProbe at /livez and its readinessProbe at /readyz. While the database is down,
// readiness fails (traffic moves away) and liveness still passes (no restart).
func Example() {
	db := downDB{} // in production the *sql.DB from pgprovider.Open
	queueDepth := func() int { return 3 }

	h := health.New(db,
		health.WithTimeout(time.Second),
		health.WithCacheTTL(2*time.Second),
		health.WithInfo("queue", func(context.Context) (any, error) {
			return map[string]int{"depth": queueDepth()}, nil
		}),
	)
	mux := http.NewServeMux()
	mux.Handle("GET /livez", h.Liveness())
	mux.Handle("GET /readyz", h.Readiness())
	// http.ListenAndServe(":8080", mux)

	for _, path := range []string{"/readyz", "/livez"} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		var rep health.Report
		_ = json.Unmarshal(w.Body.Bytes(), &rep)
		fmt.Println(path, w.Code, rep.Status)
		for _, c := range rep.Checks {
			fmt.Printf("  %s %s critical=%v %q\n", c.Name, c.Status, c.Critical, c.Error)
		}
	}
	// Output:
	// /readyz 503 fail
	//   primary fail critical=true "connection refused"
	//   queue ok critical=false ""
	// /livez 200 ok
}

// Require healthy standbys for readiness: here one standby lags beyond the bound, so only one
// of the two required counts.
func ExampleWithMinReplicas() {
	nodes := func() []health.Node { // with package replica: from router.Stats(), see WithReplicas
		return []health.Node{
			{Name: "db1:5432", Role: "primary", Primary: true, Healthy: true},
			{Name: "db2:5432", Role: "standby", Healthy: true, Lag: 40 * time.Millisecond},
			{Name: "db3:5432", Role: "standby", Healthy: true, Lag: 30 * time.Second},
		}
	}
	h := health.New(nil, health.WithReplicas(nodes), health.WithMinReplicas(2), health.WithMaxLag(5*time.Second))
	rep := h.Check(context.Background())
	fmt.Println(rep.OK(), rep.Checks[0].Name, rep.Checks[0].Error)
	// Output: false replicas 1 healthy replicas, want at least 2
}

// downDB is a database that refuses connections.
type downDB struct{}

func (downDB) PingContext(context.Context) error { return errors.New("connection refused") }
