//go:build go1.27

package pgprovider_test

import (
	"database/sql"
	"slices"
	"testing"
)

// TestArrayScanGo127 checks that Go 1.27's driver.RowsColumnScanner reaches pgx through the
// wrapper, with and without middleware: database/sql then scans arrays into Go slices exactly
// as it does through pgx stdlib.
func TestArrayScanGo127(t *testing.T) {
	for _, name := range []string{"pgx", "pgprovider"} {
		db, err := sql.Open(name, sharedDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var a []int64
		if err := db.QueryRow(`select '{1,2,3}'::bigint[]`).Scan(&a); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(a, []int64{1, 2, 3}) {
			t.Fatalf("%s: got %v", name, a)
		}
		var n int
		var s sql.NullString
		if err := db.QueryRow(`select 7, NULL::text`).Scan(&n, &s); err != nil || n != 7 || s.Valid {
			t.Fatalf("%s: scalars %d %v %v", name, n, s, err)
		}
	}
	db := openDB(t, withRowsEndCounter())
	var a []int64
	if err := db.QueryRow(`select '{4,5}'::bigint[]`).Scan(&a); err != nil || !slices.Equal(a, []int64{4, 5}) {
		t.Fatalf("with middleware: %v %v", a, err)
	}
	if rowsEnded.Load() == 0 {
		t.Fatal("the end of the result set did not run through the chain on the NextRow path")
	}
}
