// Command replica shows read-replica routing with pgprovider: writes on the primary, reads
// marked with replica.UseReplica on the replicas (round robin, lag-aware), read-your-writes
// with a session token, the node that served each statement, and the monitor's view.
//
//	DATABASE_URL='postgres://u:p@primary:5432/db?sslmode=disable' \
//	REPLICA_URLS='postgres://u:p@replica1:5432/db?sslmode=disable,postgres://u:p@replica2:5432/db?sslmode=disable' \
//	go run ./examples/replica
//
// Without REPLICA_URLS every read falls back to the primary, and the program says so.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/replica"
)

// table is created at the start and dropped at the end.
const table = "pgprovider_example_replica"

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() (err error) {
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		return errors.New("set DATABASE_URL (the primary), and REPLICA_URLS (comma-separated replicas)")
	}
	var replicas []string
	for _, s := range strings.Split(os.Getenv("REPLICA_URLS"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			replicas = append(replicas, s)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The Router monitors the primary and the replicas and routes per statement. It is the
	// last middleware; the Connector closes it with the *sql.DB.
	router, err := replica.New(replicas,
		replica.WithPrimary(dsn),
		replica.WithMaxLag(5*time.Second),
		replica.WithStrictReadYourWrites(),
	)
	if err != nil {
		return err
	}
	db, err := pgprovider.Open(dsn, pgprovider.WithMiddleware(router), pgprovider.WithBeforeConnect(router.BeforeConnect))
	if err != nil {
		router.Close()
		return err
	}
	defer func() {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}()

	if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+table); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+table+" (id serial PRIMARY KEY, note text)"); err != nil {
		return err
	}
	defer func() {
		if _, derr := db.ExecContext(context.Background(), "DROP TABLE "+table); err == nil {
			err = derr
		}
	}()

	// Every statement without an explicit intent goes to the primary.
	var served string
	wctx := replica.WithServedBy(ctx, &served)
	if _, err := db.ExecContext(wctx, "INSERT INTO "+table+" (note) VALUES ('written on the primary')"); err != nil {
		return err
	}
	fmt.Printf("write served by %s\n", served)

	// Reads marked with UseReplica go to an eligible replica, in turn. With none eligible
	// they fall back to the primary, unless replica.WithoutFallback.
	primary, why := served, ""
	if len(replicas) == 0 {
		fmt.Println("no replicas given (REPLICA_URLS is empty), so reads marked UseReplica fall back to the primary")
		why = " (the primary)"
	}
	rctx := replica.WithServedBy(replica.UseReplica(ctx), &served)
	for i := 0; i < 4; i++ {
		var now time.Time
		if err := db.QueryRowContext(rctx, "SELECT now()").Scan(&now); err != nil {
			return err
		}
		fmt.Printf("read %d served by %s%s\n", i+1, served, why)
	}

	// Read your writes: a session token in the context keeps this user's reads off replicas
	// that have not replayed the user's last write yet.
	sctx := replica.WithSession(ctx)
	var id int
	if err := db.QueryRowContext(sctx, "INSERT INTO "+table+" (note) VALUES ('mine') RETURNING id").Scan(&id); err != nil {
		return err
	}
	var note string
	if err := db.QueryRowContext(replica.WithServedBy(replica.UseReplica(sctx), &served),
		"SELECT note FROM "+table+" WHERE id = $1", id).Scan(&note); err != nil {
		return err
	}
	if served == primary && len(replicas) > 0 {
		why = " (the primary: no replica had replayed this session's write yet)"
	}
	fmt.Printf("read-your-writes: %q served by %s%s\n", note, served, why)

	// The monitor's view: role, health and lag of every node.
	for _, s := range router.Stats() {
		fmt.Printf("node %s: role=%s primary=%v healthy=%v lag=%v (%d bytes) served=%d probes=%d\n",
			s.Name, s.Role, s.Primary, s.Healthy, s.Lag, s.LagBytes, s.Served, s.Probes)
	}
	return nil
}
