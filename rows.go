package pgprovider

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"reflect"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
)

// rows wraps a result set: it classifies an error that breaks the connection during
// iteration (the statement reached the server: its outcome is unknown), runs OpRowsEnd through
// the chain exactly once when some middleware wraps it, and releases a backend a routing
// target lent for the statement. Each session embeds one, reused for every result set, so
// wrapping costs no allocation.
//
// It implements exactly the optional interfaces *stdlib.Rows implements (rows_go127.go adds
// driver.RowsColumnScanner on Go 1.27).
type rows struct {
	inner driver.Rows
	c     *conn
	be    middleware.Backend // the backend the rows come from
	n     int64
	err   error // the error that ended iteration
	done  bool
	inUse bool // handed out and not closed yet (the session's embedded wrapper)
	// x holds what only some result sets need (OpRowsEnd, a lent backend, Go 1.27 over a
	// backend without column scanning); nil otherwise. The session's wrapper keeps its own in
	// spare between result sets, so that a session allocates it once, if ever.
	x, spare *rowsExtra
}

// rowsExtra is the part of a result set's wrapper most result sets do without.
type rowsExtra struct {
	ctx    context.Context      // for OpRowsEnd
	start  time.Time            // for OpRowsEnd
	s      middleware.Statement // for OpRowsEnd
	target middleware.Target    // a routed result set: where be goes back when it ends
	vals   []driver.Value       // the current row, read with Next for a backend without column scanning (Go 1.27)
}

// extra returns the wrapper's rowsExtra, taking it from spare or allocating it.
func (r *rows) extra() *rowsExtra {
	if r.x == nil {
		if r.x = r.spare; r.x == nil {
			r.x = new(rowsExtra)
		}
	}
	return r.x
}

var (
	_ driver.Rows                           = (*rows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*rows)(nil)
	_ driver.RowsColumnTypeLength           = (*rows)(nil)
	_ driver.RowsColumnTypePrecisionScale   = (*rows)(nil)
	_ driver.RowsColumnTypeScanType         = (*rows)(nil)
)

// newRows wraps r, the result of s on be: in the session's own wrapper when it is free and
// nothing more than classification is needed, in a new one otherwise.
func newRows(ctx context.Context, c *conn, be middleware.Backend, r driver.Rows, s *middleware.Statement, target middleware.Target, start time.Time) *rows {
	w := &c.rows
	if w.inUse {
		w = new(rows) // a result set of this session is still open
	}
	w.inner, w.c, w.be, w.inUse = r, c, be, true
	if target != nil || c.ch.rowsEnded {
		x := w.extra()
		x.ctx, x.s, x.start, x.target = ctx, *s, start, target
	}
	return w
}

func (r *rows) Columns() []string { return r.inner.Columns() }

// Next reads the next row. An error that ends iteration is classified (see end): database/sql
// hands Next's error to the application as Rows.Err, and closes the result set itself.
func (r *rows) Next(dest []driver.Value) error {
	if err := r.inner.Next(dest); err != nil {
		return r.end(err)
	}
	r.n++
	return nil
}

// end records the error that ended iteration and returns what the application must see:
// io.EOF as is; for a connection lost while the rows arrived, an *OutcomeUnknownError (the
// statement reached the server); any other error unchanged.
func (r *rows) end(err error) error {
	if err == io.EOF {
		return err
	}
	r.err = r.classify(err)
	return r.err
}

func (r *rows) classify(err error) error {
	if r.be.Err() == nil {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return err
	}
	return &pgerror.OutcomeUnknownError{Op: middleware.OpQuery, Err: err}
}

// Close ends the result set: it closes pgx's rows, runs OpRowsEnd through the chain once and
// releases a lent backend.
func (r *rows) Close() error {
	if r.done {
		return nil
	}
	r.done = true
	if err := r.inner.Close(); err != nil && r.err == nil {
		r.err = r.classify(err)
	}
	c, err, be := r.c, r.err, r.be
	var target middleware.Target
	if x := r.x; x != nil {
		if target = x.target; x.ctx != nil && c.ch.rowsEnded {
			err = c.ch.rowsEnd(x.ctx, middleware.RowsEnd{Statement: x.s, Rows: r.n, Err: r.err, Duration: time.Since(x.start)})
		}
		*x = rowsExtra{}
	}
	ended := r.err
	if r == &c.rows { // free for the session's next result set, its rowsExtra kept
		spare := r.spare
		if r.x != nil {
			spare = r.x
		}
		*r = rows{spare: spare}
	}
	if target != nil {
		target.Release(be, ended) // last: another goroutine may take be right away
	}
	return err
}

func (r *rows) ColumnTypeDatabaseTypeName(i int) string {
	if x, ok := r.inner.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return x.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *rows) ColumnTypeLength(i int) (int64, bool) {
	if x, ok := r.inner.(driver.RowsColumnTypeLength); ok {
		return x.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *rows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if x, ok := r.inner.(driver.RowsColumnTypePrecisionScale); ok {
		return x.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

func (r *rows) ColumnTypeScanType(i int) reflect.Type {
	if x, ok := r.inner.(driver.RowsColumnTypeScanType); ok {
		return x.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}
