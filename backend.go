package pgprovider

import (
	"context"
	"database/sql/driver"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pgprovider/pgprovider/middleware"
)

// backend is one physical connection to a PostgreSQL server, as the inner driver hands it out
// (a *stdlib.Conn in production).
type backend struct {
	// The fields every statement reads come first, so that a statement touches as few of
	// this struct's cache lines as it can (between two statements the server's work on the
	// same CPU evicts them).
	sc        *stdlib.Conn     // nil behind a custom Backend; called directly when set
	nc        *netConn         // nil behind a custom Backend
	closed    bool             // closed by the driver
	stateInTx bool             // settings were applied inside the open transaction
	applied   middleware.State // session settings this backend has, as far as the driver knows
	tx        driver.Tx        // the open transaction, if any

	dc       driver.Conn
	execer   driver.ExecerContext
	queryer  driver.QueryerContext
	beginner driver.ConnBeginTx
	preparer driver.ConnPrepareContext
	pinger   driver.Pinger
	resetter driver.SessionResetter
}

var errMissingInterface = errors.New("pgprovider: the backend driver lacks a required interface")

func newBackend(dc driver.Conn) (*backend, error) {
	b := &backend{dc: dc}
	var ok1, ok2, ok3, ok4 bool
	b.execer, ok1 = dc.(driver.ExecerContext)
	b.queryer, ok2 = dc.(driver.QueryerContext)
	b.beginner, ok3 = dc.(driver.ConnBeginTx)
	b.preparer, ok4 = dc.(driver.ConnPrepareContext)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		_ = dc.Close()
		return nil, errMissingInterface
	}
	b.pinger, _ = dc.(driver.Pinger)
	b.resetter, _ = dc.(driver.SessionResetter)
	if sc, ok := dc.(*stdlib.Conn); ok {
		b.sc = sc
		b.nc, _ = sc.Conn().PgConn().Conn().(*netConn)
	}
	return b, nil
}

func (b *backend) pgx() *pgx.Conn {
	if b.sc == nil {
		return nil
	}
	return b.sc.Conn()
}

func (b *backend) isClosed() bool {
	if b.closed {
		return true
	}
	return b.sc != nil && b.sc.Conn().IsClosed()
}

func (b *backend) written() uint64 {
	if b.nc == nil {
		return 0
	}
	return b.nc.written.Load()
}

func (b *backend) pid() uint32 {
	if b.sc == nil {
		return 0
	}
	return b.sc.Conn().PgConn().PID()
}

func (b *backend) close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	return b.dc.Close()
}

// forget drops what the driver believes about the backend's session state, so that the next
// operation that declares state applies it again.
func (b *backend) forget() {
	b.applied = nil
	b.stateInTx = false
}

// needs reports whether the backend's known state differs from want.
func (b *backend) needs(want middleware.State) bool {
	for _, s := range want {
		if v, ok := b.applied.Get(s.Name); !ok || v != s.Value {
			return true
		}
	}
	return false
}

var setConfigSQL = [...]string{
	1: "SELECT set_config($1, $2, false)",
	2: "SELECT set_config($1, $2, false), set_config($3, $4, false)",
	3: "SELECT set_config($1, $2, false), set_config($3, $4, false), set_config($5, $6, false)",
	4: "SELECT set_config($1, $2, false), set_config($3, $4, false), set_config($5, $6, false), set_config($7, $8, false)",
}

// apply makes the backend's session state match want in one round trip, sending only the
// settings that differ. Values travel as bind parameters of set_config; quoting identifiers
// inside a value (search_path) is the declaring middleware's job (middleware.SearchPath).
func (b *backend) apply(ctx context.Context, want middleware.State, inTx bool) error {
	if !b.needs(want) {
		return nil
	}
	var diff middleware.State
	for _, s := range want {
		if v, ok := b.applied.Get(s.Name); !ok || v != s.Value {
			diff = append(diff, s)
		}
	}
	for len(diff) > 0 {
		n := min(len(diff), len(setConfigSQL)-1)
		args := make([]driver.NamedValue, 0, 2*n)
		for i, s := range diff[:n] {
			args = append(args,
				driver.NamedValue{Ordinal: 2*i + 1, Value: s.Name},
				driver.NamedValue{Ordinal: 2*i + 2, Value: s.Value})
		}
		if _, err := b.execer.ExecContext(ctx, setConfigSQL[n], args); err != nil {
			b.forget()
			return err
		}
		for _, s := range diff[:n] {
			b.applied = b.applied.With(s.Name, s.Value)
		}
		if inTx {
			b.stateInTx = true
		}
		diff = diff[n:]
	}
	return nil
}
