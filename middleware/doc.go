// Package middleware is the contract between pgprovider and the code that runs around every
// database operation: tracing, metrics, logging, retry, tenant isolation, replica routing, or
// your own.
//
// # Operations
//
// Every call database/sql makes on a pgprovider connection becomes a typed operation ([Op]):
// connect, ping, reset session, begin, commit, rollback, prepare, exec, query, prepared-statement
// exec and query, statement close, the end of a result set, raw access to the *pgx.Conn and the
// return of the connection to the pool. Each kind has a function type ([CallFunc],
// [BeginFunc], [PrepareFunc], [ExecFunc], [QueryFunc], [RowsEndFunc]) and a payload struct
// ([Call], [Begin], [Statement], [RowsEnd]) passed by value, so fields can be added without
// breaking middleware.
//
// # Writing a middleware
//
// A [Middleware] has one method, Wrappers, which returns a [Wrappers] struct with a field per
// kind of operation; a [Wrappers] value is itself a middleware. A wrapper receives next and
// returns the function to run in its place; that function may call next zero times
// (short-circuit), once, or many times (retry), and may pass a different context (tracing).
// An operation no middleware wraps costs nothing: the driver composes the chain once, when a
// Connector is built, and an empty chain calls the executor directly. A misspelt wrapper does
// not compile; a method that only looks like one (WrapExec) is refused when the Connector is
// built.
//
// # Order
//
// The first middleware listed is the outermost:
//
//	request ──► mw[0] ──► mw[1] ──► … ──► executor ──► backend (pgx)
//	result  ◄── mw[0] ◄── mw[1] ◄── … ◄──
//
// The built-ins have a recommended order, which the Connector checks through [Wrappers.Rank]:
// observability (tracing, metrics, logging), then retry, then tenancy, then replica routing.
// Retry outside tenancy means every attempt re-applies the tenant; tracing outside retry means
// one span covers every attempt.
//
// # Session state
//
// An operation may declare the session state it needs ([State]: search_path, custom settings),
// and it runs on a backend that has that state: before the operation, in one round trip, the
// executor sets whatever the backend lacks. What a backend has is known from what the executor
// set on it, and forgotten (so set again) whenever it may have changed: a rollback of the
// transaction it was set in, a statement whose text may change session state (SET, RESET,
// DISCARD, set_config, DO, CALL, ...), raw access to the connection. A server function that
// changes a setting without its caller's text showing it is not seen.
//
// # Routing
//
// A routing middleware sets [Statement.Target] or [Begin.Target]: the executor then acquires a
// [Backend] of another server from that [Target] for the statement, or for the whole
// transaction, applies the declared state there, and releases it when the work ends.
package middleware
