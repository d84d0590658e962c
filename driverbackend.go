package pgprovider

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/pgprovider/pgprovider/internal/sqlscan"
	"github.com/pgprovider/pgprovider/middleware"
)

// driverBackend is a backend over another database/sql driver's connection ([WithBackend]:
// go-sqlmock in unit tests of middleware). It counts no bytes, so the other driver's errors
// stand as it returns them. Running the text of a statement it prepared runs that statement,
// as pgx stdlib does.
type driverBackend struct {
	dc       driver.Conn
	execer   driver.ExecerContext
	queryer  driver.QueryerContext
	preparer driver.ConnPrepareContext
	beginner driver.ConnBeginTx
	closed   bool
	pinned   bool
	applied  middleware.State
	inTx     bool
	prepared map[string]driver.Stmt
}

var _ middleware.Backend = (*driverBackend)(nil)

var errMissingInterface = errors.New("pgprovider: the backend driver lacks ExecerContext, QueryerContext, ConnPrepareContext or ConnBeginTx")

func newDriverBackend(dc driver.Conn) (*driverBackend, error) {
	b := &driverBackend{dc: dc, prepared: map[string]driver.Stmt{}}
	var ok1, ok2, ok3, ok4 bool
	b.execer, ok1 = dc.(driver.ExecerContext)
	b.queryer, ok2 = dc.(driver.QueryerContext)
	b.preparer, ok3 = dc.(driver.ConnPrepareContext)
	b.beginner, ok4 = dc.(driver.ConnBeginTx)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		_ = dc.Close()
		return nil, fmt.Errorf("%w (%T)", errMissingInterface, dc)
	}
	return b, nil
}

func (b *driverBackend) Exec(ctx context.Context, sql string, args []driver.NamedValue) (driver.Result, error) {
	b.observe(sql)
	if st, ok := b.prepared[sql].(driver.StmtExecContext); ok {
		return st.ExecContext(ctx, args)
	}
	return b.execer.ExecContext(ctx, sql, args)
}

func (b *driverBackend) Query(ctx context.Context, sql string, args []driver.NamedValue) (driver.Rows, error) {
	b.observe(sql)
	if st, ok := b.prepared[sql].(driver.StmtQueryContext); ok {
		return st.QueryContext(ctx, args)
	}
	return b.queryer.QueryContext(ctx, sql, args)
}

func (b *driverBackend) observe(sql string) {
	if !sqlscan.Plain(sql) && sqlscan.Effects(sql)&^sqlscan.Multi != 0 {
		b.applied, b.pinned = nil, true
	}
}

func (b *driverBackend) Prepare(ctx context.Context, sql string) (driver.Stmt, error) {
	st, err := b.preparer.PrepareContext(ctx, sql)
	if err != nil {
		return nil, err
	}
	b.prepared[sql] = st
	return &driverStmt{Stmt: st, b: b, sql: sql}, nil
}

// driverStmt forgets the statement when it is closed.
type driverStmt struct {
	driver.Stmt
	b   *driverBackend
	sql string
}

func (s *driverStmt) Close() error {
	if s.b.prepared[s.sql] == s.Stmt {
		delete(s.b.prepared, s.sql)
	}
	return s.Stmt.Close()
}

func (b *driverBackend) Begin(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	t, err := b.beginner.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	b.inTx = true
	return driverTx{t, b}, nil
}

// driverTx notes the end of the transaction; settings applied inside it are forgotten.
type driverTx struct {
	driver.Tx
	b *driverBackend
}

func (t driverTx) Commit() error   { t.b.inTx = false; return t.Tx.Commit() }
func (t driverTx) Rollback() error { t.b.inTx, t.b.applied = false, nil; return t.Tx.Rollback() }

func (b *driverBackend) Ping(ctx context.Context) error {
	if p, ok := b.dc.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (b *driverBackend) Apply(ctx context.Context, want middleware.State) error {
	diff := diffState(b.applied, want)
	for len(diff) > 0 {
		n := min(len(diff), len(setConfigSQL)-1)
		if _, err := b.execer.ExecContext(ctx, setConfigSQL[n], setConfigArgs(diff[:n])); err != nil {
			b.applied = nil
			return err
		}
		for _, s := range diff[:n] {
			b.applied = b.applied.With(s.Name, s.Value)
		}
		diff = diff[n:]
	}
	return nil
}

func (b *driverBackend) Written() uint64 { return 0 }

func (b *driverBackend) Err() error {
	if b.closed {
		return errConnLost
	}
	return nil
}

func (b *driverBackend) Pinned() bool { return b.pinned }

func (b *driverBackend) Reset(ctx context.Context) error {
	if b.closed || b.inTx {
		return driver.ErrBadConn
	}
	if r, ok := b.dc.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (b *driverBackend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	return b.dc.Close()
}

func (b *driverBackend) Info() middleware.BackendInfo { return middleware.BackendInfo{} }
