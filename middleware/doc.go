// Package middleware is the contract between pgprovider and the code that runs around every
// database operation: tracing, metrics, logging, retry, tenant isolation, replica routing, or
// your own.
//
// # Operations
//
// Every call database/sql makes on a pgprovider connection becomes a typed operation ([Op]):
// connect, ping, reset session, begin, commit, rollback, prepare, exec, query, prepared-statement
// exec and query, statement close, the end of a result set, and raw access to the *pgx.Conn.
// Each kind has a function type ([CallFunc], [BeginFunc], [PrepareFunc], [ExecFunc],
// [QueryFunc], [RowsEndFunc]) and a payload struct ([Call], [Begin], [Statement], [RowsEnd])
// passed by value, so fields can be added without breaking middleware.
//
// # Writing a middleware
//
// A middleware implements the Wrap methods of the operations it cares about
// ([ExecWrapper], [QueryWrapper], ...), or is a [Funcs] value with only those fields set.
// A Wrap method receives next and returns the function to run in its place; that function may
// call next zero times (short-circuit), once, or many times (retry), and may pass a different
// context (tracing). An operation no middleware wraps costs nothing.
//
// # Order
//
// The first middleware listed is the outermost. The built-ins have a recommended order, which
// [NewChain] checks: observability (tracing, metrics, logging), then retry, then tenancy, then
// replica routing. Retry outside tenancy means every attempt re-applies the tenant; tracing
// outside retry means one span covers every attempt.
//
// # Session state
//
// An operation may declare the session state it needs ([State]: search_path, custom settings).
// The executor makes the backend match before running the operation, in one round trip and only
// when the backend's state differs, and forgets what it applied whenever the state may have
// changed behind its back (a rollback, a user SET/RESET/DISCARD, raw access to the connection).
package middleware
