// Package pgprovider is a PostgreSQL driver for database/sql, built on pgx v5, that runs every
// operation through an ordered middleware chain.
//
// # Opening a database
//
// The driver registers itself as "pgprovider":
//
//	db, err := sql.Open("pgprovider", "postgres://app@db/app?sslmode=verify-full")
//
// [Open] and [NewConnector] take options ([WithMiddleware], [WithBeforeConnect],
// [WithAfterConnect], [WithConnConfig]); [Register] gives a configured variant a driver name
// for tools that only take one (GORM's DriverName, sqlx). Any DSN pgx.ParseConfig accepts works.
//
// # Never a write applied twice
//
// database/sql runs an operation again on another connection when the driver answers
// driver.ErrBadConn. pgprovider answers it only when it saw that no byte of the operation was
// written to the server (or for operations without durable effect: ping, reset, begin, prepare,
// rollback). When the request was written and the connection broke before the answer, the
// error is a *pgerror.OutcomeUnknownError, matched by errors.Is(err, pgerror.OutcomeUnknown):
// the statement may or may not have been applied, and nothing runs it again. The same holds
// for a connection lost while the rows of a result set arrive: Rows.Err matches
// pgerror.OutcomeUnknown.
//
// # Sessions and backends
//
// Each database/sql connection is a virtual session holding one backend connection (a pgx
// connection); every operation takes the same path through it, with or without middleware. A
// backend found closed before an operation outside a transaction is replaced, so that a retry
// middleware reaches a fresh backend; a transaction, and a session whose user changed session
// state (SET, temporary tables, LISTEN, raw access), stay on their backend. Middleware declares
// the session state an operation needs (search_path, custom settings) and the operation runs
// with that state: the driver sets what the backend lacks before it, in one round trip, and
// sets it again after anything it saw change it (a rollback, a SET, RESET or DISCARD in the
// statement text, raw access).
//
// # Statements made stale by DDL
//
// A statement whose cached plan a schema change made stale (SQLSTATE 0A000 "cached plan must
// not change result type", or 26000 when a prepared statement is gone) runs once more outside
// a transaction, described afresh, whether pgx cached it or database/sql prepared it; inside a
// transaction the error stands, as the server has aborted the transaction.
//
// # Reaching pgx
//
// [Raw] hands the *pgx.Conn to a function after applying the declared session state; [PgxConn]
// returns it from inside (*sql.Conn).Raw.
package pgprovider
