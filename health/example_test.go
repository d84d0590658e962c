package health_test

import (
	"context"
	"database/sql"
	"net/http"
	"time"

	"github.com/pgprovider/pgprovider/health"
	"github.com/pgprovider/pgprovider/listen"
)

// Mount liveness and readiness next to the application's routes. Point the pod's
// livenessProbe at /livez and its readinessProbe at /readyz.
func Example() {
	var db *sql.DB            // pgprovider.Open(dsn, ...)
	var l *listen.Listener    // listen.FromConnector(connector)
	var queueDepth func() int // the application's own state

	h := health.New(db,
		health.WithTimeout(time.Second),
		health.WithCacheTTL(2*time.Second),
		health.WithListener(l),
		health.WithInfo("queue", func(context.Context) (any, error) {
			return map[string]int{"depth": queueDepth()}, nil
		}),
	)
	mux := http.NewServeMux()
	mux.Handle("GET /livez", h.Liveness())
	mux.Handle("GET /readyz", h.Readiness())
	_ = http.ListenAndServe // http.ListenAndServe(":8080", mux)
}
