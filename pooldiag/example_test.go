package pooldiag_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/pooldiag"
)

// A transaction left open holds its connection: the Monitor reports it once it has been held
// longer than the threshold, with the function that began it first in the stack. The
// threshold here is tiny and the scan is run by hand so that the example shows the report at
// once; in production keep the default (30 s) and let the scanner run.
func ExampleNew() {
	mon := pooldiag.New(
		pooldiag.WithThreshold(time.Nanosecond),
		pooldiag.WithInterval(time.Hour),
		pooldiag.WithLogger(slog.New(slog.DiscardHandler)), // default: slog.Default(), at warn
		pooldiag.WithOnLeak(func(l pooldiag.Leak) {
			caller, _, _ := strings.Cut(l.Stack, "\n")
			fmt.Println("leak:", l.Kind, "begun in", caller)
		}),
	)
	db, err := pgprovider.Open("", pgprovider.WithBackend(txServer{}), pgprovider.WithMiddleware(mon))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close() // closes mon too
	mon.WatchPool(db)

	tx, err := db.Begin() // neither committed nor rolled back: a leak
	if err != nil {
		log.Fatal(err)
	}
	mon.Check()
	fmt.Println("held:", mon.Stats().Held, "leaks:", mon.Stats().Leaks)
	_ = tx.Rollback()
	fmt.Println("held:", mon.Stats().Held)
	// Output:
	// leak: transaction begun in github.com/pgprovider/pgprovider/pooldiag_test.ExampleNew
	// held: 1 leaks: 1
	// held: 0
}

// MeasureRecovery needs a pool of exactly one connection, which it holds and releases while a
// second request waits; the durations it reports depend on the machine.
func ExampleMeasureRecovery() {
	db, err := pgprovider.Open("", pgprovider.WithBackend(txServer{}))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()

	_, err = pooldiag.MeasureRecovery(ctx, db, 10)
	fmt.Println(errors.Is(err, pooldiag.ErrNotExhaustible))

	db.SetMaxOpenConns(1)
	r, err := pooldiag.MeasureRecovery(ctx, db, 10)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("trials:", r.Trials, "acquired within the slowest query:", r.AcquireMax <= r.QueryMax)
	// Output:
	// true
	// trials: 10 acquired within the slowest query: true
}

// txServer stands in for PostgreSQL behind pgprovider.WithBackend: statements and
// transactions succeed, and every query returns one row holding 1.
type txServer struct{}

func (txServer) Connect(context.Context) (driver.Conn, error) { return txConn{}, nil }
func (txServer) Driver() driver.Driver                        { return nil }

type txConn struct{}

var errUnsupported = errors.New("not supported")

func (txConn) Prepare(string) (driver.Stmt, error) { return nil, errUnsupported }
func (txConn) Close() error                        { return nil }
func (txConn) Begin() (driver.Tx, error)           { return txConn{}, nil }
func (txConn) Commit() error                       { return nil }
func (txConn) Rollback() error                     { return nil }
func (txConn) PrepareContext(context.Context, string) (driver.Stmt, error) {
	return nil, errUnsupported
}
func (txConn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) { return txConn{}, nil }
func (txConn) ExecContext(context.Context, string, []driver.NamedValue) (driver.Result, error) {
	return driver.RowsAffected(1), nil
}
func (txConn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	return &oneRow{}, nil
}

type oneRow struct{ done bool }

func (*oneRow) Columns() []string { return []string{"n"} }
func (*oneRow) Close() error      { return nil }
func (r *oneRow) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done, dest[0] = true, int64(1)
	return nil
}
