//go:build !go1.27

package pgprovider

import "reflect"

var extraInterfaces []reflect.Type
