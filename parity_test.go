package pgprovider

import (
	"database/sql/driver"
	"io"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// optionalInterfaces lists every interface of database/sql/driver a driver type may implement.
var optionalInterfaces = []reflect.Type{
	reflect.TypeFor[driver.Conn](), reflect.TypeFor[driver.ConnPrepareContext](), reflect.TypeFor[driver.ConnBeginTx](),
	reflect.TypeFor[driver.Execer](), reflect.TypeFor[driver.ExecerContext](), reflect.TypeFor[driver.Queryer](),
	reflect.TypeFor[driver.QueryerContext](), reflect.TypeFor[driver.Pinger](), reflect.TypeFor[driver.NamedValueChecker](),
	reflect.TypeFor[driver.SessionResetter](), reflect.TypeFor[driver.Validator](), reflect.TypeFor[io.Closer](),
	reflect.TypeFor[driver.Rows](), reflect.TypeFor[driver.RowsNextResultSet](),
	reflect.TypeFor[driver.RowsColumnTypeDatabaseTypeName](), reflect.TypeFor[driver.RowsColumnTypeLength](),
	reflect.TypeFor[driver.RowsColumnTypeNullable](), reflect.TypeFor[driver.RowsColumnTypePrecisionScale](),
	reflect.TypeFor[driver.RowsColumnTypeScanType](),
	reflect.TypeFor[driver.Stmt](), reflect.TypeFor[driver.StmtExecContext](), reflect.TypeFor[driver.StmtQueryContext](),
	reflect.TypeFor[driver.ColumnConverter](), reflect.TypeFor[driver.Connector](), reflect.TypeFor[driver.Driver](),
	reflect.TypeFor[driver.DriverContext](), reflect.TypeFor[driver.Tx](),
}

func implemented(t reflect.Type) map[string]bool {
	m := map[string]bool{}
	for _, it := range append(optionalInterfaces, extraInterfaces...) {
		if t.Implements(it) {
			m[it.String()] = true
		}
	}
	return m
}

// TestInterfaceParity compares the driver interfaces each wrapper implements with what pgx
// stdlib's type implements, so that a pgx upgrade cannot silently lose (or add) one.
func TestInterfaceParity(t *testing.T) {
	stdConnector := stdlib.GetConnector(pgx.ConnConfig{})
	tests := []struct {
		name  string
		ours  reflect.Type
		pgx   reflect.Type
		extra []string // deliberate additions
	}{
		{"conn", reflect.TypeFor[*conn](), reflect.TypeFor[*stdlib.Conn](), []string{"driver.Validator"}},
		{"rows", reflect.TypeFor[*rows](), reflect.TypeFor[*stdlib.Rows](), nil},
		{"stmt", reflect.TypeFor[*stmt](), reflect.TypeFor[*stdlib.Stmt](), nil},
		{"connector", reflect.TypeFor[*Connector](), reflect.TypeOf(stdConnector), []string{"io.Closer"}},
		{"driver", reflect.TypeFor[*Driver](), reflect.TypeFor[*stdlib.Driver](), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ours, theirs := implemented(tt.ours), implemented(tt.pgx)
			for _, x := range tt.extra {
				if !ours[x] {
					t.Errorf("%s should add %s", tt.name, x)
				}
				delete(ours, x)
			}
			for it := range theirs {
				if !ours[it] {
					t.Errorf("pgx's %v implements %s, ours does not", tt.pgx, it)
				}
			}
			for it := range ours {
				if !theirs[it] {
					t.Errorf("ours implements %s, pgx's %v does not", it, tt.pgx)
				}
			}
		})
	}
}
