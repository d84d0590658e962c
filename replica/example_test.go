package replica_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/replica"
)

// Route marked reads to replicas, keep writes on the primary, and see which node served each
// statement. The Router needs running servers, so this example only compiles. On a cluster of
// a primary (db1) and two streaming replicas it prints the replica that served the read, then
// the primary:
//
//	read served by db2:5432
//	write served by db1:5432
func Example() {
	const primaryDSN = "postgres://app@db1,db2,db3/app?target_session_attrs=read-write"
	r, err := replica.New(
		[]string{"postgres://app@db2/app", "postgres://app@db3/app"},
		replica.WithPrimary(primaryDSN),   // the monitor probes the primary's hosts: lag, failover
		replica.WithMaxLag(2*time.Second), // replicas further behind are skipped
	)
	if err != nil {
		log.Fatal(err)
	}
	db, err := pgprovider.Open(primaryDSN,
		pgprovider.WithMiddleware(r),                  // listed last; the Connector closes r
		pgprovider.WithBeforeConnect(r.BeforeConnect)) // new connections go to the known primary
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	var node string
	ctx := replica.WithServedBy(context.Background(), &node)
	var n int
	if err := db.QueryRowContext(replica.UseReplica(ctx), "SELECT count(*) FROM orders").Scan(&n); err != nil {
		log.Fatal(err)
	}
	fmt.Println("read served by", node)
	if _, err := db.ExecContext(ctx, "UPDATE orders SET seen = true"); err != nil {
		log.Fatal(err)
	}
	fmt.Println("write served by", node)
}

// Read your writes: a context from WithSession carries a token; after a write through it,
// reads with it stay on the primary for the sticky window (or, with WithStrictReadYourWrites,
// until a replica has replayed the write). It needs servers, so this example only compiles;
// it prints the primary's name twice (db1:5432), since the read follows the write at once.
func ExampleWithSession() {
	var r *replica.Router // replica.New(...), listed in the chain of db
	db, _ := pgprovider.Open("postgres://app@db1/app", pgprovider.WithMiddleware(r))
	defer db.Close()

	var node string
	ctx := replica.WithServedBy(replica.WithSession(context.Background()), &node)
	_, _ = db.ExecContext(ctx, "INSERT INTO orders (customer) VALUES (7)")
	fmt.Println(node)
	var n int
	_ = db.QueryRowContext(replica.UseReplica(ctx), "SELECT count(*) FROM orders WHERE customer = 7").Scan(&n)
	fmt.Println(node)
}

// Stats describes every node as the monitor last saw it: export it as metrics, or feed
// health.WithReplicas. It needs servers, so this example only compiles; on a healthy cluster
// it prints one line per node, such as
//
//	db2:5432 standby healthy=true lag=12ms
//	db3:5432 standby healthy=true lag=8ms
//	db1:5432 primary healthy=true lag=0s
func ExampleRouter_Stats() {
	r, err := replica.New([]string{"postgres://app@db2/app", "postgres://app@db3/app"},
		replica.WithPrimary("postgres://app@db1/app"))
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close() // the Connector closes it when r is in its chain
	for _, s := range r.Stats() {
		fmt.Printf("%s %s healthy=%v lag=%v\n", s.Name, s.Role, s.Healthy && !s.Suspect, s.Lag.Round(time.Millisecond))
	}
}
