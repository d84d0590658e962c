package pgprovider

import (
	"context"
	"database/sql/driver"
	"io"
	"reflect"
	"time"

	"github.com/pgprovider/pgprovider/middleware"
)

// rows wraps a result set: it classifies an error that breaks the connection during
// iteration (the statement reached the server: its outcome is unknown), and runs OpRowsEnd
// through the chain exactly once when some middleware wraps it. Each session embeds one, reused
// for every result set, so wrapping costs no allocation.
//
// It implements exactly the optional interfaces *stdlib.Rows implements (rows_go127.go adds
// driver.RowsColumnScanner on Go 1.27).
type rows struct {
	// What every result set uses comes first, in one cache line: a result set of the empty
	// chain touches nothing else.
	inner driver.Rows
	c     *conn
	n     int64
	err   error // the error that ended iteration
	done  bool
	inUse bool // handed out and not closed yet (embedded wrapper only)
	cold  bool // a field below is set: Close clears them

	ctx   context.Context      // for OpRowsEnd
	start time.Time            // for OpRowsEnd
	s     middleware.Statement // for OpRowsEnd

	vals []driver.Value // the current row, read with Next for a backend without column scanning (Go 1.27)

	target middleware.Target // routed result set: the pool c was borrowed from
	chain  *middleware.Chain // routed result set: the session's chain, for OpRowsEnd
}

var (
	_ driver.Rows                           = (*rows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*rows)(nil)
	_ driver.RowsColumnTypeLength           = (*rows)(nil)
	_ driver.RowsColumnTypePrecisionScale   = (*rows)(nil)
	_ driver.RowsColumnTypeScanType         = (*rows)(nil)
)

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
	r.err = r.c.exec.classifyRows(r.c, err)
	return r.err
}

// Close ends the result set: it closes pgx's rows and runs OpRowsEnd through the chain once.
func (r *rows) Close() error {
	if r.done {
		return nil
	}
	r.done = true
	if err := r.inner.Close(); err != nil && r.err == nil {
		r.err = r.c.exec.classifyRows(r.c, err)
	}
	if r.cold {
		return r.closeCold()
	}
	// No OpRowsEnd to run (Query sets cold when one is) and nothing borrowed.
	err := r.err
	if r == &r.c.rows { // free for the session's next result set
		r.inner, r.c, r.n, r.err, r.done, r.inUse = nil, nil, 0, nil, false, false
	}
	return err
}

// closeCold ends a result set that runs OpRowsEnd or holds a borrowed connection.
//
//go:noinline
func (r *rows) closeCold() error {
	c := r.c
	err, target := r.err, r.target
	chain := c.ctr.chain
	if r.chain != nil {
		chain = r.chain
	}
	if r.chain != nil || (target == nil && c.rowsEnd) {
		err = chain.RowsEnd(r.ctx, middleware.RowsEnd{Statement: r.s, Rows: r.n, Err: r.err, Duration: time.Since(r.start)})
	}
	ended := r.err
	if r == &c.rows {
		*r = rows{} // free for the session's next result set
	}
	if target != nil {
		target.Release(c, ended) // last: another goroutine may borrow c right away
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
