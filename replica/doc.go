// Package replica routes autocommit reads to PostgreSQL streaming replicas, watches the
// cluster (roles, health, replication lag) and keeps writes on the primary through a failover.
//
// A [Router] is a pgprovider middleware (rank RankRouting, listed last):
//
//	r, err := replica.New([]string{replica1DSN, replica2DSN}, replica.WithPrimary(primaryDSN))
//	db, err := pgprovider.Open(primaryDSN, pgprovider.WithMiddleware(r))
//	rows, err := db.QueryContext(replica.UseReplica(ctx), "SELECT ...")
//
// # Routing
//
// Routing follows explicit intent only; the SQL text is never inspected. A statement goes to
// a replica when its context was marked with [UseReplica], it runs outside a transaction,
// and a replica is eligible: up (hysteresis over probes), not suspect (its circuit breaker is
// closed), in recovery, within the staleness bound ([WithMaxLag], [MaxStaleness]) and
// caught up with the caller's read-your-writes token ([WithSession]). Everything else,
// including every statement inside a transaction and every statement marked [UsePrimary],
// runs on the session's own backend, which is the primary.
//
// A replica read that fails on a connection error, the per-attempt timeout
// ([WithReadTimeout]) or a recovery conflict (40001, 57P01, ...) is run again on another
// replica, then on the primary: reads are safe to repeat. When no replica is eligible, reads
// run on the primary, or fail with [ErrNoReplica] under [WithoutFallback]. Writes never go to
// a replica, and a write that was sent is never run again.
//
// Prepared statements (database/sql *Stmt) work on any node: pgprovider runs them by their
// SQL text, so a replica's connection simply plans the statement. The session state the
// context declares (the tenant of package tenancy) is applied on the borrowed connection.
//
// A read-only transaction begun with UseReplica (sql.TxOptions{ReadOnly: true}, not
// serializable, which standbys refuse) runs whole on one connection borrowed from an eligible
// replica and returned at COMMIT or ROLLBACK. A read-only transaction without UseReplica stays
// on the primary: code that uses ReadOnly for safety must not get stale reads silently. A
// session whose user changed session state (SET, temporary tables) keeps its reads on the
// primary backend that holds that state.
//
// # Monitor
//
// One goroutine per node probes it every [WithProbeInterval] (500 ms) with its own deadline
// ([WithProbeTimeout]) in one round trip: pg_is_in_recovery(), the primary's WAL position
// or the standby's replay position, and the primary's timeline. Primary positions are kept in
// a ring of (time, LSN) samples, so lag is known in bytes and in seconds, and an idle primary
// shows no lag (unlike now() - pg_last_xact_replay_timestamp()). A node goes down after
// [WithHysteresis] fall failed probes in a row and comes back after rise good ones; while it
// is failing it is probed four times as often. Statement errors are fast signals between
// probes: a connection error marks a replica suspect (excluded until a probe succeeds) and
// probes it at once; 25006 from a write means the primary was demoted and probes every node.
//
// When two nodes claim to be primary (split brain), the one on the higher timeline is the
// primary; on a tie there is none, and writes fail closed with [ErrNoPrimary].
//
// # Read your writes
//
// database/sql shares a driver connection between requests, so read-your-writes is keyed to a
// token carried in the context: [WithSession] creates one. After a write through such a
// context, reads with it stay on the primary for the sticky window ([WithStickyWindow],
// 2 s), or, in strict mode ([WithStrictReadYourWrites]), until a replica's replay position
// has passed a primary WAL position sampled after the write.
//
// # Failover
//
// With [WithPrimary] the monitor also probes every host of the primary DSN. When no node is
// primary, statements bound for the primary wait up to [WithPrimaryWait] for one and then
// fail with [ErrNoPrimary]; new connections wait the same way. A session whose backend is on a
// node that was demoted is evicted when database/sql next reuses it (ResetSession returns
// driver.ErrBadConn). New connections find the new primary through the DSN's host list and
// target_session_attrs=read-write (pgx); [Router.BeforeConnect] puts the node the monitor
// knows as primary first.
//
// Asynchronous replication can lose commits that the old primary acknowledged before it
// died, whatever a driver does; only a synchronous standby (synchronous_standby_names,
// synchronous_commit=on or remote_apply) that is the one promoted keeps them.
package replica
