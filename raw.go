package pgprovider

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider/middleware"
)

var errNoPgx = errors.New("pgprovider: not a pgprovider connection over pgx")

// Raw runs fn with the *pgx.Conn behind c, after running the chain's raw operation, so that
// the session state the context declares (for example the tenant's search_path) is applied
// first: a CopyFrom or a pgx Batch lands where an ordinary statement with ctx would. After fn
// the driver forgets what it knew of the session's state, and re-applies it when needed.
func Raw(ctx context.Context, c *sql.Conn, fn func(ctx context.Context, pc *pgx.Conn) error) error {
	return c.Raw(func(driverConn any) error {
		cn, ok := driverConn.(*conn)
		if !ok {
			return errNoPgx
		}
		cn.rawFn = fn
		defer func() { cn.rawFn = nil }()
		return cn.ctr.chain.Raw(ctx, middleware.Call{Op: middleware.OpRaw, Session: cn})
	})
}
