package pgprovider

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider/middleware"
)

// rawFnKey is the context key of the function Raw hands the *pgx.Conn to, which the executor
// calls once the chain's raw operation reaches it.
type rawFnKey struct{}

// Raw runs fn with the *pgx.Conn behind c, after running the chain's raw operation, so that
// the session state the context declares (for example the tenant's search_path) is applied
// first: a CopyFrom or a pgx Batch lands where an ordinary statement with ctx would. After fn
// the driver forgets what it knew of the session's state, re-applies it when needed, and
// never replaces the backend silently.
func Raw(ctx context.Context, c *sql.Conn, fn func(ctx context.Context, pc *pgx.Conn) error) error {
	return c.Raw(func(driverConn any) error {
		cn, ok := driverConn.(*conn)
		if !ok {
			return errNoPgx
		}
		return cn.ch.raw(context.WithValue(ctx, rawFnKey{}, fn), middleware.Call{Op: middleware.OpRaw, Session: cn})
	})
}

// PgxConn returns the *pgx.Conn behind a driver connection, for use inside (*sql.Conn).Raw:
//
//	err := sqlConn.Raw(func(driverConn any) error {
//		pc, ok := pgprovider.PgxConn(driverConn)
//		...
//	})
//
// It reports false for connections of other drivers or of a connector with a custom backend.
// Once it has handed out a connection, the driver no longer knows the session state of that
// backend: it re-applies declared state on the next statement and never replaces the backend
// silently. Prefer [Raw], which
// also applies the state the context declares (the tenant) before handing the connection out.
func PgxConn(driverConn any) (*pgx.Conn, bool) {
	c, ok := driverConn.(*conn)
	if !ok {
		return nil, false
	}
	pb, ok := c.be.(*pgxBackend)
	if !ok {
		return nil, false
	}
	pb.handOut()
	return pb.sc.Conn(), true
}
