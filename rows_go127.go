//go:build go1.27

package pgprovider

import (
	"database/sql"
	"database/sql/driver"
)

var _ driver.RowsColumnScanner = (*rows)(nil)

// NextRow implements driver.RowsColumnScanner (Go 1.27): database/sql then calls NextRow and
// ScanColumn instead of Next, and pgx scans arrays and ranges straight into Go values. Over a
// backend driver without it, the row is read with Next and converted as database/sql would.
func (r *rows) NextRow() error {
	var err error
	if x, ok := r.inner.(driver.RowsColumnScanner); ok {
		err = x.NextRow()
	} else {
		x := r.extra()
		if x.vals == nil {
			x.vals = make([]driver.Value, len(r.inner.Columns()))
		}
		err = r.inner.Next(x.vals)
	}
	if err != nil {
		return r.end(err)
	}
	r.n++
	return nil
}

// ScanColumn implements driver.RowsColumnScanner (Go 1.27).
func (r *rows) ScanColumn(scanCtx driver.ScanContext, index int, dest any) error {
	if x, ok := r.inner.(driver.RowsColumnScanner); ok {
		return x.ScanColumn(scanCtx, index, dest)
	}
	return sql.ConvertAssign(scanCtx, dest, r.x.vals[index])
}
