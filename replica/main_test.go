package replica

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/middleware"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, pgtest.Options{Replicas: 2})) }

// fast are the monitor settings of the tests: a short interval, so that they run quickly.
var fast = []Option{WithProbeInterval(100 * time.Millisecond), WithProbeTimeout(300 * time.Millisecond)}

// open builds a Router for the cluster's replicas (or the given replica DSNs) and a *sql.DB
// whose Connector owns it.
func open(t *testing.T, primaryDSN string, replicaDSNs []string, opts ...Option) (*sql.DB, *Router) {
	t.Helper()
	return openMW(t, nil, primaryDSN, replicaDSNs, opts...)
}

// openMW is open with other middleware listed before the Router.
func openMW(t *testing.T, mws []middleware.Middleware, primaryDSN string, replicaDSNs []string, opts ...Option) (*sql.DB, *Router) {
	t.Helper()
	r, err := New(replicaDSNs, append(append([]Option{WithPrimary(primaryDSN)}, fast...), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctr, err := pgprovider.NewConnector(primaryDSN, pgprovider.WithMiddleware(append(mws, r)...), pgprovider.WithBeforeConnect(r.BeforeConnect))
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	db := sql.OpenDB(ctr)
	t.Cleanup(func() { db.Close() })
	return db, r
}

func sharedDB(t *testing.T, opts ...Option) (*pgtest.Cluster, *sql.DB, *Router) {
	t.Helper()
	c := pgtest.Shared(t)
	db, r := open(t, c.Nodes[0].DSN(), []string{c.Nodes[1].DSN(), c.Nodes[2].DSN()}, opts...)
	return c, db, r
}

// leakCheck verifies, after the test's cleanups, that no goroutine it started is left.
func leakCheck(t *testing.T) {
	opt := goleak.IgnoreAnyFunction("github.com/pgprovider/pgprovider/internal/pgtest.(*Node).launch.func1")
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// waitFor polls cond every 5 ms until it holds or d passes; it returns the time it took.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
	return time.Since(start)
}

func stat(r *Router, name string) NodeStats {
	for _, s := range r.Stats() {
		if s.Name == name {
			return s
		}
	}
	return NodeStats{}
}

func name(n *pgtest.Node) string { return hostPort(n.Host, uint16(n.Port)) }

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// port runs `SELECT inet_server_port()` with ctx and returns it.
func port(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var p int
	err := q.QueryRowContext(ctx, "SELECT inet_server_port()").Scan(&p)
	return p, err
}
