package main

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/pgerror"
	"github.com/pgprovider/pgprovider/replica"
)

// stepFailover routes a read to the replica with a replica.Router and a write to the primary,
// then kills the primary, promotes the replica and keeps writing through the same *sql.DB
// until a write lands on the new primary.
func stepFailover(ctx context.Context, e *env) error {
	if e.cluster == nil {
		fmt.Fprintln(e.out, "skipped: needs the temporary cluster (DATABASE_URL is set)")
		return nil
	}
	p0, r1 := e.cluster.Nodes[0], e.cluster.Nodes[1]
	// The primary DSN lists both nodes; pgx keeps the first that accepts writes, and
	// router.BeforeConnect puts the node the monitor knows as primary first.
	primaryDSN := dsnWith(p0.DSN(
		"host", p0.Host+","+r1.Host, "port", strconv.Itoa(p0.Port)+","+strconv.Itoa(r1.Port),
		"target_session_attrs", "read-write", "connect_timeout", "2",
	), "search_path", demoSchema)
	router, err := replica.New([]string{dsnWith(r1.DSN(), "search_path", demoSchema)},
		replica.WithPrimary(primaryDSN),
		replica.WithProbeInterval(200*time.Millisecond),
		replica.WithPrimaryWait(5*time.Second), // a write while no primary is known waits for one
	)
	if err != nil {
		return err
	}
	defer router.Close() // db.Close closes it first; a second Close does nothing
	db, err := pgprovider.Open(primaryDSN,
		pgprovider.WithMiddleware(newLogger(e.out), router), pgprovider.WithBeforeConnect(router.BeforeConnect))
	if err != nil {
		return err
	}
	defer db.Close()

	var served string
	var inRecovery bool
	rctx := replica.WithServedBy(replica.UseReplica(ctx), &served)
	if err := db.QueryRowContext(rctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil || !inRecovery {
		return fmt.Errorf("the read marked replica.UseReplica (served by %s): in recovery %v, error %v", served, inRecovery, err)
	}
	fmt.Fprintf(e.out, "read marked replica.UseReplica: served by %s (the replica), pg_is_in_recovery()=true\n", served)
	if _, err := db.ExecContext(replica.WithServedBy(ctx, &served), "INSERT INTO items (name) VALUES ('before')"); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "write (no mark): served by %s (the primary)\n", served)
	// Replication is asynchronous: an acknowledged write the replica has not received is lost
	// with the primary, so let the replica replay it first.
	if err := r1.WaitCaughtUp(ctx, p0); err != nil {
		return err
	}

	fmt.Fprintln(e.out, "killing the primary (SIGQUIT) and promoting the replica, while a writer keeps writing")
	killed := time.Now()
	if err := p0.Kill(ctx); err != nil {
		return err
	}
	wrote := make(chan error, 1)
	go func() { wrote <- writeUntilDone(ctx, e, db, killed) }()
	if err := r1.Promote(ctx); err != nil {
		<-wrote
		return err
	}
	fmt.Fprintf(e.out, "replica promoted %s after the kill\n", time.Since(killed).Round(time.Millisecond))
	if err := <-wrote; err != nil {
		return err
	}
	for _, s := range router.Stats() {
		fmt.Fprintf(e.out, "router: node %s role=%s primary=%v healthy=%v timeline=%d probes=%d failed=%d\n",
			s.Name, s.Role, s.Primary, s.Healthy, s.Timeline, s.Probes, s.ProbeFailures)
	}
	return nil
}

// writeUntilDone inserts a row through db until an insert succeeds or 10 s have passed, under
// a new name each attempt: an attempt whose outcome is unknown must not collide with the next.
func writeUntilDone(ctx context.Context, e *env, db *sql.DB, killed time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for n := 1; ; n++ {
		var served string
		_, err := db.ExecContext(replica.WithServedBy(ctx, &served), "INSERT INTO items (name) VALUES ($1)",
			fmt.Sprintf("after-%d", n))
		if err == nil {
			fmt.Fprintf(e.out, "write attempt %d succeeded %s after the kill, served by %s (the new primary)\n",
				n, time.Since(killed).Round(time.Millisecond), served)
			return nil
		}
		fmt.Fprintf(e.out, "write attempt %d failed (%v): %v\n", n, pgerror.Classify(err), err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("no write succeeded within 10s of the kill: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
