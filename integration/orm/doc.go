// Package orm holds the integration tests of pgprovider with sqlx (github.com/jmoiron/sqlx)
// and GORM (gorm.io/gorm with gorm.io/driver/postgres), and two runnable examples
// (examples/sqlx, examples/gorm). It is a module of its own, so that the ORMs never enter
// the dependency graph of github.com/pgprovider/pgprovider.
//
// Run everything, examples included, against a temporary cluster started by the tests:
//
//	cd integration/orm && go test -race -count=1 ./...
package orm
