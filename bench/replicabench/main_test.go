package replicabench

import (
	"context"
	"database/sql"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/replica"
)

// TestMain shares one cluster (a primary and one streaming replica) for the read measurements
// and the idle-client kills; every failover run starts a cluster of its own.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, pgtest.Options{Replicas: 1})) }

// measure reports a full measurement run (PGPROVIDER_MEASURE=1).
func measure() bool { return os.Getenv("PGPROVIDER_MEASURE") == "1" }

// openRouted opens a *sql.DB over primaryDSN whose Connector owns a Router for replicaDSNs.
func openRouted(tb testing.TB, primaryDSN string, replicaDSNs []string, opts ...replica.Option) (*sql.DB, *replica.Router) {
	tb.Helper()
	r, err := replica.New(replicaDSNs, append([]replica.Option{replica.WithPrimary(primaryDSN)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	ctr, err := pgprovider.NewConnector(primaryDSN, pgprovider.WithMiddleware(r), pgprovider.WithBeforeConnect(r.BeforeConnect))
	if err != nil {
		r.Close()
		tb.Fatal(err)
	}
	db := sql.OpenDB(ctr)
	tb.Cleanup(func() { db.Close() })
	return db, r
}

// nodeName is the name the Router's statistics give a node: host:port.
func nodeName(n *pgtest.Node) string { return net.JoinHostPort(n.Host, strconv.Itoa(n.Port)) }

func stat(r *replica.Router, name string) replica.NodeStats {
	for _, s := range r.Stats() {
		if s.Name == name {
			return s
		}
	}
	return replica.NodeStats{}
}

// waitFor polls cond every 5 ms until it holds or d passes.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(start) > d {
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}

func ctxT(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}
