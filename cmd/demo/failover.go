package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/pgerror"
	"github.com/pgprovider/pgprovider/replica"
)

// failoverWriteBudget bounds how long the failover step keeps retrying writes after the kill.
const failoverWriteBudget = 10 * time.Second

// stepFailover routes a read to the replica with a replica.Router, writes on the primary, then
// kills the primary, promotes the replica and keeps writing through the same *sql.DB until a
// write lands on the new primary. It destroys the original primary, so it is the last
// cluster step.
func stepFailover(ctx context.Context, e *env) error {
	p0, r1 := e.cluster.Nodes[0], e.cluster.Nodes[1]
	// The primary DSN lists both hosts, primary first; pgx keeps the first that accepts
	// writes, and router.BeforeConnect puts the node the monitor knows as primary first.
	primaryDSN := dsnWith(p0.DSN(
		"host", p0.Host+","+r1.Host,
		"port", strconv.Itoa(p0.Port)+","+strconv.Itoa(r1.Port),
		"target_session_attrs", "read-write",
		"connect_timeout", "2",
	), "search_path", demoSchema)
	replicaDSN := dsnWith(r1.DSN(), "search_path", demoSchema)
	fmt.Fprintf(e.out, "primary DSN: %s\n", primaryDSN)

	router, err := replica.New([]string{replicaDSN},
		replica.WithPrimary(primaryDSN),
		replica.WithProbeInterval(200*time.Millisecond),
		replica.WithPrimaryWait(5*time.Second),
	)
	if err != nil {
		return err
	}
	db, err := pgprovider.Open(primaryDSN,
		pgprovider.WithMiddleware(newLogger(e.out), router),
		pgprovider.WithBeforeConnect(router.BeforeConnect))
	if err != nil {
		_ = router.Close()
		return err
	}
	defer db.Close() // closes the router too

	// A read marked UseReplica runs on the replica.
	var served string
	var port int
	var inRecovery bool
	rctx := replica.WithServedBy(replica.UseReplica(ctx), &served)
	if err := db.QueryRowContext(rctx, "SELECT inet_server_port(), pg_is_in_recovery()").Scan(&port, &inRecovery); err != nil {
		return err
	}
	if port != r1.Port || !inRecovery {
		return fmt.Errorf("replica read ran on port %d (in recovery %v), want the replica on %d", port, inRecovery, r1.Port)
	}
	fmt.Fprintf(e.out, "UseReplica read served by %s (inet_server_port()=%d, pg_is_in_recovery()=%v)\n", served, port, inRecovery)

	// A write without a mark runs on the primary.
	wctx := replica.WithServedBy(ctx, &served)
	if _, err := db.ExecContext(wctx, "INSERT INTO items (name, qty) VALUES ('before-failover', 1)"); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "write served by %s (the primary)\n", served)
	// Replication is asynchronous: let the replica replay the write, so that it survives the
	// failover (an acknowledged write the replica has not received is lost with the primary).
	if err := r1.WaitCaughtUp(ctx, p0); err != nil {
		return err
	}

	// Live failover.
	p0Name := net.JoinHostPort(p0.Host, strconv.Itoa(p0.Port))
	fmt.Fprintf(e.out, "killing the primary %s (SIGQUIT) ...\n", p0Name)
	killed := time.Now() // the server stops answering when the signal lands; Kill waits for the exit
	if err := p0.Kill(ctx); err != nil {
		return err
	}

	// Keep serving: one writer retries through the same *sql.DB from the kill on.
	wrote := make(chan writeResult, 1)
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		wrote <- retryWrite(ctx, e, db)
	}()
	defer func() { <-wdone }()

	if err := awaitDown(ctx, router, p0Name); err != nil {
		return err
	}
	down := time.Now()
	fmt.Fprintf(e.out, "primary marked down by the router %s after the kill\n", down.Sub(killed).Round(time.Millisecond))

	fmt.Fprintf(e.out, "promoting the replica %s ...\n", net.JoinHostPort(r1.Host, strconv.Itoa(r1.Port)))
	promoteStart := time.Now()
	if err := r1.Promote(ctx); err != nil {
		return err
	}
	promoted := time.Now()
	fmt.Fprintf(e.out, "promotion finished in %s\n", promoted.Sub(promoteStart).Round(time.Millisecond))

	res := <-wrote
	if res.err != nil {
		return fmt.Errorf("no write succeeded within %s of the kill: %w", failoverWriteBudget, res.err)
	}
	fmt.Fprintf(e.out, "first successful write after %d attempt(s), served by %s: %s after promote was called, %s after the kill\n",
		res.attempts, res.served, res.at.Sub(promoteStart).Round(time.Millisecond), res.at.Sub(killed).Round(time.Millisecond))

	var before, after int
	if err := db.QueryRowContext(ctx,
		"SELECT count(*) FILTER (WHERE name = 'before-failover'), count(*) FILTER (WHERE name LIKE 'after-failover-%') FROM items").
		Scan(&before, &after); err != nil {
		return err
	}
	if before != 1 || after < 1 {
		return fmt.Errorf("new primary holds %d pre-failover and %d post-failover rows", before, after)
	}
	fmt.Fprintf(e.out, "new primary holds the pre-failover row and %d post-failover row(s)\n", after)

	for _, s := range router.Stats() {
		fmt.Fprintf(e.out, "node %s: role=%s primary=%v healthy=%v timeline=%d served=%d probes=%d failed=%d transitions=%d\n",
			s.Name, s.Role, s.Primary, s.Healthy, s.Timeline, s.Served, s.Probes, s.ProbeFailures, s.Transitions)
	}
	return nil
}

// writeResult is what retryWrite reports: when the first write succeeded, after how many
// attempts, and on which node; or the last error once the budget ran out.
type writeResult struct {
	at       time.Time
	attempts int
	served   string
	err      error
}

// retryWrite inserts a row through db until an insert succeeds or failoverWriteBudget has
// passed. Each attempt inserts a row with its own name, so that an attempt whose outcome is
// unknown (the connection broke after the request was sent) cannot collide with a later one.
// Attempts are spaced by 100 ms; while the router knows no primary an attempt itself waits
// for one (replica.WithPrimaryWait).
func retryWrite(ctx context.Context, e *env, db *sql.DB) writeResult {
	ctx, cancel := context.WithTimeout(ctx, failoverWriteBudget)
	defer cancel()
	var res writeResult
	for {
		res.attempts++
		wctx := replica.WithServedBy(ctx, &res.served)
		_, res.err = db.ExecContext(wctx, "INSERT INTO items (name, qty) VALUES ($1, 1)",
			fmt.Sprintf("after-failover-%d", res.attempts))
		if res.err == nil {
			res.at = time.Now()
			return res
		}
		fmt.Fprintf(e.out, "write attempt %d failed: %s\n", res.attempts, failoverErr(res.err))
		select {
		case <-ctx.Done():
			return res
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// failoverErr names the kind of a write error during the failover.
func failoverErr(err error) string {
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, replica.ErrNoPrimary):
		return "replica.ErrNoPrimary (no primary within the wait): " + err.Error()
	case errors.Is(err, pgerror.OutcomeUnknown):
		return "pgerror.OutcomeUnknown (sent, connection lost): " + err.Error()
	case errors.As(err, &pgErr):
		return "SQLSTATE " + pgErr.Code + ": " + pgErr.Message
	}
	return err.Error()
}

// awaitDown polls the router's stats until the node named name is no longer healthy.
func awaitDown(ctx context.Context, router *replica.Router, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, s := range router.Stats() {
			if s.Name == name && !s.Healthy && !s.Primary {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errors.New("the router did not mark the killed primary down within 5s")
		case <-tick.C:
		}
	}
}
