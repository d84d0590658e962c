//go:build go1.27

package pgprovider

import (
	"database/sql/driver"
	"errors"
)

var _ driver.RowsColumnScanner = (*rows)(nil)

// NextRow implements driver.RowsColumnScanner (Go 1.27): database/sql then calls NextRow and
// ScanColumn instead of Next, and pgx scans arrays and ranges straight into Go values.
func (r *rows) NextRow() error {
	var err error
	if x, ok := r.inner.(driver.RowsColumnScanner); ok {
		err = x.NextRow()
	} else {
		err = r.inner.Next(make([]driver.Value, len(r.inner.Columns())))
	}
	r.track(err)
	return err
}

// ScanColumn implements driver.RowsColumnScanner (Go 1.27).
func (r *rows) ScanColumn(scanCtx driver.ScanContext, index int, dest any) error {
	x, ok := r.inner.(driver.RowsColumnScanner)
	if !ok {
		return errNoColumnScanner
	}
	return x.ScanColumn(scanCtx, index, dest)
}

var errNoColumnScanner = errors.New("pgprovider: the backend driver cannot scan single columns")
