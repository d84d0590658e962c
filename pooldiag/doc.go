// Package pooldiag finds connection leaks and makes pool exhaustion visible.
//
// A [Monitor] is a middleware: add it to the chain and it records, per session (one
// database/sql connection), what holds the connection and the stack that took it:
//
//	mon := pooldiag.New(pooldiag.WithThreshold(30*time.Second), pooldiag.WithLogger(logger))
//	db, _ := pgprovider.Open(dsn, pgprovider.WithMiddleware(mon))
//	mon.WatchPool(db)
//	defer db.Close() // closes mon too
//
// A connection is held while a transaction is open on it (BeginTx until Commit or Rollback)
// or a result set is open (a query until its *sql.Rows is closed or exhausted). These are
// the leaks that exhaust pools in practice: a *sql.Tx neither committed nor rolled back, a
// *sql.Rows never closed. A hold older than the threshold is reported once, through the
// logger (slog, level Warn, with the stack of the call that opened it) and the counter in
// [Stats], and to [WithOnLeak].
//
// database/sql checks a connection out of its pool with the driver's ResetSession (a reused
// connection) or Connect (a new one), which the chain sees, and returns it with IsValid, where
// the driver runs OpRelease. The Monitor therefore also tracks whole checkouts (kind "conn"),
// so a *sql.Conn taken with db.Conn and never closed is reported even with no transaction or
// result set open on it. A checkout of a pooled connection counts from ResetSession; a new
// connection counts once a statement ran on it (database/sql also opens connections for its
// idle list, which are not checkouts). A session whose operation returned driver.ErrBadConn
// is forgotten: database/sql closes it.
//
// [Monitor.WatchPool] samples DB.Stats on every scan and logs when requests had to wait for
// a connection (WaitCount grew): the pool is exhausted. [MeasureRecovery] measures how fast
// a waiter proceeds once a held connection is released.
package pooldiag
