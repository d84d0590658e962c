//go:build go1.27

package pgprovider

import (
	"database/sql/driver"
	"reflect"
)

var extraInterfaces = []reflect.Type{reflect.TypeFor[driver.RowsColumnScanner]()}
