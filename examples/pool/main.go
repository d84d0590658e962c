// Command pool shows database/sql pool statistics, pool exhaustion and leak detection with
// pgprovider's pooldiag.Monitor, and measures how fast a waiter proceeds once a held
// connection is released.
//
//	DATABASE_URL='postgres://user:pass@localhost:5432/db?sslmode=disable' go run ./examples/pool
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/pooldiag"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() (err error) {
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		return errors.New("set DATABASE_URL, e.g. postgres://user:pass@localhost:5432/db?sslmode=disable")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The Monitor is a middleware: it sees transactions and result sets open and close, with
	// the stack that opened them. Production thresholds are seconds to minutes; 200ms keeps
	// the example short.
	leaks := make(chan pooldiag.Leak, 4)
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == "stack" { // keep the log line short: the first frame is the culprit
				a.Value = slog.StringValue(firstFrame(a.Value.String()))
			}
			return a
		}}))
	mon := pooldiag.New(
		pooldiag.WithThreshold(200*time.Millisecond),
		pooldiag.WithLogger(logger),
		pooldiag.WithOnLeak(func(l pooldiag.Leak) { leaks <- l }),
	)
	db, err := pgprovider.Open(dsn, pgprovider.WithMiddleware(mon))
	if err != nil {
		return err
	}
	defer func() { // closing the pool closes the Monitor's Connector, and with it the Monitor
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}()
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(2)
	mon.WatchPool(db)

	// 1. Statistics.
	var n int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
		return err
	}
	printStats("after one query", db)

	// 2. Exhaustion: two transactions hold both connections; a third request waits until its
	// deadline. WaitCount and WaitDuration show it, and the Monitor logs it on its next scan.
	tx1, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	tx2, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	wctx, wcancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = db.ExecContext(wctx, "SELECT 1")
	wcancel()
	fmt.Printf("third request while both connections are held: %v\n", err)
	printStats("while exhausted", db)

	// 3. Leak detection: tx1 and tx2 are never finished within the threshold, as if a code
	// path forgot Commit/Rollback. The Monitor reports each once, with the opening stack.
	for range 2 {
		select {
		case l := <-leaks:
			fmt.Printf("leak: %s held %v on backend %d, opened at %s\n", l.Kind, l.Held.Round(10*time.Millisecond),
				l.BackendPID, firstFrame(l.Stack))
		case <-ctx.Done():
			return errors.New("no leak reported")
		}
	}
	if err := tx1.Rollback(); err != nil {
		return err
	}
	if err := tx2.Rollback(); err != nil {
		return err
	}
	st := mon.Stats()
	fmt.Printf("monitor: %d leaks reported, %d still held, %d exhaustion episodes\n", st.Leaks, st.Held, st.Exhaustions)

	// 4. Recovery: with a single connection held and a waiter blocked, how long after the
	// release does the waiter proceed?
	db.SetMaxOpenConns(1)
	r, err := pooldiag.MeasureRecovery(ctx, db, 100)
	if err != nil {
		return err
	}
	fmt.Printf("recovery over %d trials: waiter holds the connection p50 %v p99 %v; its SELECT 1 done p50 %v p99 %v\n",
		r.Trials, r.AcquireP50, r.AcquireP99, r.QueryP50, r.QueryP99)
	if r.QueryP99 > 5*time.Second { // a hang bound: on a loaded machine the p99 reaches hundreds of ms
		return fmt.Errorf("recovery p99 %v above 5s", r.QueryP99)
	}
	return nil
}

func printStats(when string, db *sql.DB) {
	s := db.Stats()
	fmt.Printf("pool %s: open %d (in use %d, idle %d), max %d, waited %d times for %v\n",
		when, s.OpenConnections, s.InUse, s.Idle, s.MaxOpenConnections, s.WaitCount, s.WaitDuration.Round(time.Millisecond))
}

// firstFrame turns the first frame of a pooldiag stack ("function\n\tfile:line\n...") into
// "function (file:line)".
func firstFrame(stack string) string {
	lines := strings.SplitN(stack, "\n", 3)
	if len(lines) < 2 {
		return stack
	}
	file := strings.TrimSpace(lines[1])
	if i := strings.LastIndexByte(file, '/'); i >= 0 {
		file = file[i+1:]
	}
	return lines[0] + " (" + file + ")"
}
