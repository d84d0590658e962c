package pgprovider

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// driverName is the name pgprovider registers with database/sql.
const driverName = "pgprovider"

func init() {
	if !slices.Contains(sql.Drivers(), driverName) {
		sql.Register(driverName, &Driver{})
	}
}

// Driver is the database/sql driver registered as "pgprovider" (and under the names given to
// [Register]). It implements driver.Driver and driver.DriverContext.
type Driver struct {
	opts []Option
}

// Open opens a connection from a DSN. database/sql prefers OpenConnector.
func (d *Driver) Open(dsn string) (driver.Conn, error) {
	c, err := d.OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	return c.Connect(context.Background())
}

// OpenConnector returns a connector for dsn. Like pgx, it never fails: a malformed DSN is
// reported (with the password redacted) by the first connection attempt, so sql.Open keeps
// its usual lazy behaviour.
func (d *Driver) OpenConnector(dsn string) (driver.Connector, error) {
	c, err := newConnector(d, dsn, d.opts)
	if err != nil {
		return &failedConnector{d: d, err: err}, nil
	}
	return c, nil
}

type failedConnector struct {
	d   *Driver
	err error
}

func (f *failedConnector) Connect(context.Context) (driver.Conn, error) { return nil, f.err }
func (f *failedConnector) Driver() driver.Driver                        { return f.d }

var registerMu sync.Mutex

// ErrDriverName is returned by [Register] for an empty name or a name database/sql already knows.
var ErrDriverName = errors.New("pgprovider: invalid driver name")

// Register registers a named variant of the driver whose connections use opts, so that
// sql.Open(name, dsn), GORM's DriverName and sqlx can use a configured pgprovider. An empty or
// already registered name returns an error wrapping [ErrDriverName]; it never panics.
func Register(name string, opts ...Option) (err error) {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrDriverName)
	}
	registerMu.Lock()
	defer registerMu.Unlock()
	if slices.Contains(sql.Drivers(), name) {
		return fmt.Errorf("%w: %q is already registered", ErrDriverName, name)
	}
	defer func() {
		if r := recover(); r != nil { // registered concurrently outside pgprovider
			err = fmt.Errorf("%w: %v", ErrDriverName, r)
		}
	}()
	sql.Register(name, &Driver{opts: slices.Clone(opts)})
	return nil
}

// Open parses dsn, builds a [Connector] with opts and returns a *sql.DB over it. Unlike
// sql.Open it reports a malformed DSN (password redacted) immediately. Closing the *sql.DB
// closes the Connector and its middleware.
func Open(dsn string, opts ...Option) (*sql.DB, error) {
	c, err := NewConnector(dsn, opts...)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}
