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
	inner driver.Rows
	c     *conn
	ctx   context.Context
	s     middleware.Statement
	start time.Time
	n     int64
	err   error // the error that ended iteration
	done  bool
	inUse bool // handed out and not closed yet (embedded wrapper only)

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

func (r *rows) Next(dest []driver.Value) error {
	err := r.inner.Next(dest)
	r.track(err)
	return err
}

func (r *rows) track(err error) {
	switch err {
	case nil:
		r.n++
	case io.EOF:
	default:
		r.err = r.c.ctr.exec.classifyRows(r.c, err)
	}
}

// Close ends the result set: it closes pgx's rows and runs OpRowsEnd through the chain once.
func (r *rows) Close() error {
	if r.done {
		return nil
	}
	r.done = true
	if err := r.inner.Close(); err != nil && r.err == nil {
		r.err = r.c.ctr.exec.classifyRows(r.c, err)
	}
	err, c, target := r.err, r.c, r.target
	chain := c.ctr.chain
	if r.chain != nil {
		chain = r.chain
	}
	if r.chain != nil || (target == nil && c.ctr.rowsEnd) {
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
