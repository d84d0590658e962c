package pgprovider

import (
	"context"
	"database/sql/driver"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pgprovider/pgprovider/internal/sqlscan"
	"github.com/pgprovider/pgprovider/middleware"
)

// pgxBackend is a backend over pgx stdlib: one *stdlib.Conn, the netConn under it (bytes
// written, the network error pgx stdlib hides behind driver.ErrBadConn, whether the session
// may have subscribed to notifications) and the session state the driver applied.
type pgxBackend struct {
	sc     *stdlib.Conn
	nc     *netConn
	closed bool
	// pinned is set once statements or raw access may have changed session state the driver
	// cannot restore on another connection.
	pinned  bool
	applied middleware.State // what Apply set, as far as the driver knows
	// provisional is set when Apply ran inside a transaction: the settings last only if it
	// commits.
	provisional bool
	tx          pgxTx
}

var _ middleware.Backend = (*pgxBackend)(nil)

func newPgxBackend(sc *stdlib.Conn) *pgxBackend {
	b := &pgxBackend{sc: sc}
	b.nc, _ = sc.Conn().PgConn().Conn().(*netConn)
	if b.nc == nil { // not dialed through the Connector's AfterNetConnect (never in practice)
		b.nc = newNetConn(sc.Conn().PgConn().Conn())
	}
	b.tx.b = b
	return b
}

func (b *pgxBackend) Exec(ctx context.Context, sql string, args []driver.NamedValue) (driver.Result, error) {
	res, err := b.sc.ExecContext(ctx, sql, args)
	if !sqlscan.Plain(sql) {
		b.observe(ctx, sql, err)
	}
	return res, err
}

func (b *pgxBackend) Query(ctx context.Context, sql string, args []driver.NamedValue) (driver.Rows, error) {
	r, err := b.sc.QueryContext(ctx, sql, args)
	if !sqlscan.Plain(sql) {
		b.observe(ctx, sql, err)
	}
	return r, err
}

// observe updates what the backend knows after a statement that may do more than return
// its result (see sqlscan.Effects).
func (b *pgxBackend) observe(ctx context.Context, sql string, err error) {
	e := sqlscan.Effects(sql)
	if e&^sqlscan.Multi != 0 {
		b.applied, b.provisional, b.pinned = nil, false, true
	}
	if e.Has(sqlscan.Listen) {
		b.nc.listened.Store(true) // notifications that arrive mark it too (OnNotification)
	}
	// A user DISCARD ALL or DEALLOCATE dropped the server's prepared statements behind pgx's
	// back; clear pgx's caches too, or the next cached statement fails once with 26000.
	if err == nil && e.Has(sqlscan.DropsPrepared) {
		_ = b.sc.Conn().DeallocateAll(ctx)
	}
}

func (b *pgxBackend) Prepare(ctx context.Context, sql string) (driver.Stmt, error) {
	return b.sc.PrepareContext(ctx, sql)
}

func (b *pgxBackend) Begin(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	t, err := b.sc.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	b.tx.inner = t
	return &b.tx, nil
}

func (b *pgxBackend) Ping(ctx context.Context) error { return b.sc.Ping(ctx) }

func (b *pgxBackend) Written() uint64 { return b.nc.written.Load() }

func (b *pgxBackend) Err() error {
	if !b.closed && !b.sc.Conn().IsClosed() {
		return nil
	}
	if err := b.nc.netErr(); err != nil {
		return err
	}
	return errConnLost
}

func (b *pgxBackend) Pinned() bool {
	return b.pinned || b.sc.Conn().PgConn().TxStatus() != 'I'
}

func (b *pgxBackend) Reset(ctx context.Context) error {
	if b.closed || b.sc.Conn().PgConn().TxStatus() != 'I' {
		return driver.ErrBadConn
	}
	if b.nc.listened.Load() {
		if err := b.unlisten(ctx); err != nil {
			return err
		}
	}
	return b.sc.ResetSession(ctx) // with the liveness check (shouldPing)
}

// unlisten ends every subscription of a session that may have run LISTEN, so that the next
// user neither receives nor (through database/sql) silently drops them.
func (b *pgxBackend) unlisten(ctx context.Context) error {
	if !b.nc.listened.Swap(false) {
		return nil
	}
	if err := b.sc.Conn().PgConn().Exec(ctx, "UNLISTEN *").Close(); err != nil {
		_ = b.Close()
		return driver.ErrBadConn
	}
	return nil
}

func (b *pgxBackend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	return b.sc.Close()
}

func (b *pgxBackend) Info() middleware.BackendInfo {
	return middleware.BackendInfo{PID: b.sc.Conn().PgConn().PID(), Addr: b.nc.RemoteAddr().String()}
}

// handOut forgets what the driver knew of the session before user code gets the *pgx.Conn:
// it may change anything, so declared state is applied again and the backend is never
// replaced silently.
func (b *pgxBackend) handOut() {
	b.applied, b.provisional, b.pinned = nil, false, true
}

// Apply makes the session state match want in one round trip, sending only the settings that
// differ. Values travel as bind parameters of set_config; quoting identifiers inside a value
// (search_path) is the declaring middleware's job (middleware.SearchPath).
func (b *pgxBackend) Apply(ctx context.Context, want middleware.State) error {
	diff := diffState(b.applied, want)
	if len(diff) == 0 {
		return nil
	}
	inTx := b.sc.Conn().PgConn().TxStatus() != 'I'
	for len(diff) > 0 {
		n := min(len(diff), len(setConfigSQL)-1)
		if _, err := b.sc.ExecContext(ctx, setConfigSQL[n], setConfigArgs(diff[:n])); err != nil {
			b.applied, b.provisional = nil, false
			return err
		}
		for _, s := range diff[:n] {
			b.applied = b.applied.With(s.Name, s.Value)
		}
		b.provisional = b.provisional || inTx
		diff = diff[n:]
	}
	return nil
}

// pgxTx is the transaction of a pgxBackend: a settings change applied inside it is forgotten
// when it does not commit.
type pgxTx struct {
	b     *pgxBackend
	inner driver.Tx
}

func (t *pgxTx) Commit() error {
	err := t.inner.Commit()
	if err != nil && t.b.provisional { // a failed COMMIT rolls back, and the settings with it
		t.b.applied = nil
	}
	t.b.provisional = false
	return err
}

func (t *pgxTx) Rollback() error {
	if t.b.provisional { // settings applied inside the transaction are reverted
		t.b.applied, t.b.provisional = nil, false
	}
	return t.inner.Rollback()
}

var setConfigSQL = [...]string{
	1: "SELECT set_config($1, $2, false)",
	2: "SELECT set_config($1, $2, false), set_config($3, $4, false)",
	3: "SELECT set_config($1, $2, false), set_config($3, $4, false), set_config($5, $6, false)",
	4: "SELECT set_config($1, $2, false), set_config($3, $4, false), set_config($5, $6, false), set_config($7, $8, false)",
}

func setConfigArgs(diff middleware.State) []driver.NamedValue {
	args := make([]driver.NamedValue, 0, 2*len(diff))
	for i, s := range diff {
		args = append(args,
			driver.NamedValue{Ordinal: 2*i + 1, Value: s.Name},
			driver.NamedValue{Ordinal: 2*i + 2, Value: s.Value})
	}
	return args
}

// diffState returns the settings of want whose value differs from have's (nil when none do,
// without allocating).
func diffState(have, want middleware.State) middleware.State {
	var diff middleware.State
	for i, s := range want {
		if v, ok := have.Get(s.Name); !ok || v != s.Value {
			if diff == nil {
				diff = make(middleware.State, 0, len(want)-i)
			}
			diff = append(diff, s)
		}
	}
	return diff
}
