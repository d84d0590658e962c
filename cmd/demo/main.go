// Command demo shows pgprovider at work against a real PostgreSQL.
//
//	go run ./cmd/demo
//
// Without DATABASE_URL it starts a temporary cluster (a primary and one streaming replica)
// with the project's test harness and removes it on exit; the PostgreSQL server binaries must
// be installed (see internal/pgtest). With DATABASE_URL it uses that server instead, works in
// a schema of its own (pgprovider_demo, dropped at the end) and leaves out the replica
// steps (catching up, routing and the live failover that kills the primary).
//
// Every statement runs through pgprovider.Open with a small logging middleware, so each
// operation the driver performs is printed with its SQL, duration and error. The demo exits
// 0 when every step succeeded and 1 (after printing the error) otherwise.
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
)

// demoSchema holds the demo's tables; every connection the demo opens puts it on its
// search_path, so the SQL below uses plain table names.
const demoSchema = "pgprovider_demo"

// env is what the steps share.
type env struct {
	out        io.Writer
	cluster    *pgtest.Cluster // nil when DATABASE_URL is used
	primaryDSN string          // as given, without the demo's search_path
	dsn        string          // primaryDSN with search_path=demoSchema
	db         *sql.DB         // pgprovider with the logging middleware
}

// step is one part of the demo.
type step struct {
	title string
	// cluster marks steps that need the temporary cluster (its replica, its nodes).
	cluster bool
	run     func(ctx context.Context, e *env) error
}

// steps run in order; each prints what it shows.
var steps = []step{
	{title: "connect, exec, query", run: stepBasics},
	{title: "transaction with a savepoint", run: stepSavepoint},
	{title: "rollback", run: stepRollback},
	{title: "prepared statement reused", run: stepPrepared},
	{title: "COPY through pgprovider.Raw", run: stepCopy},
	{title: "LISTEN/NOTIFY across a killed listener connection", run: stepListen},
	{title: "retry.Tx on serialization failures; pgerror classification", run: stepRetry},
	{title: "replica catching up", cluster: true, run: stepReplica},
	{title: "bad-connection safety: a cut after the request was sent", run: stepBadConn},
	// The failover step kills the original primary: it must stay the last cluster step.
	{title: "replica routing and a live failover (kill the primary, promote the replica)", cluster: true, run: stepFailover},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

// run sets up the database, runs every step and tears everything down.
func run(ctx context.Context, out io.Writer) (err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // a hang guard; the demo takes seconds
	defer cancel()
	start := time.Now()

	out = &syncWriter{w: out} // the retry step's transactions log from two goroutines
	e := &env{out: out}
	if url := os.Getenv("DATABASE_URL"); url != "" {
		fmt.Fprintln(out, "using DATABASE_URL (no replica part)")
		e.primaryDSN = url
	} else {
		fmt.Fprintln(out, "starting a temporary PostgreSQL cluster: primary + 1 streaming replica ...")
		t0 := time.Now()
		defer pgtest.Cleanup()
		c, err := pgtest.Start(ctx, pgtest.Options{Replicas: 1})
		if err != nil {
			return fmt.Errorf("start cluster: %w", err)
		}
		defer func() {
			if cerr := c.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("close cluster: %w", cerr)
			}
		}()
		e.cluster = c
		e.primaryDSN = c.Primary().DSN()
		fmt.Fprintf(out, "cluster up in %s: primary %s:%d, replica %s:%d\n", time.Since(t0).Round(time.Millisecond),
			c.Nodes[0].Host, c.Nodes[0].Port, c.Nodes[1].Host, c.Nodes[1].Port)
	}
	e.dsn = dsnWith(e.primaryDSN, "search_path", demoSchema)

	if err := createSchema(ctx, e); err != nil {
		return err
	}
	if e.cluster == nil { // a temporary cluster is thrown away whole
		defer func() {
			if derr := dropSchema(e); derr != nil && err == nil {
				err = derr
			}
		}()
	}

	db, err := pgprovider.Open(e.dsn, pgprovider.WithMiddleware(newLogger(out)))
	if err != nil {
		return err
	}
	defer db.Close()
	e.db = db

	for i, s := range steps {
		fmt.Fprintf(out, "\n== %d. %s\n", i+1, s.title)
		if s.cluster && e.cluster == nil {
			fmt.Fprintln(out, "skipped: needs the temporary cluster (DATABASE_URL is set)")
			continue
		}
		if err := s.run(ctx, e); err != nil {
			return fmt.Errorf("step %q: %w", s.title, err)
		}
	}
	fmt.Fprintf(out, "\nall steps passed in %s; tearing down\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// createSchema creates the demo's schema and tables with plain database/sql (no logging).
func createSchema(ctx context.Context, e *env) error {
	db, err := sql.Open("pgprovider", e.primaryDSN)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+demoSchema); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P06" { // duplicate_schema
			return fmt.Errorf("schema %s exists (left by an interrupted run?); drop it and retry: %w", demoSchema, err)
		}
		return err
	}
	_, err = db.ExecContext(ctx, `
		CREATE TABLE `+demoSchema+`.items (
			id   serial PRIMARY KEY,
			name text NOT NULL UNIQUE,
			qty  int  NOT NULL
		);
		CREATE TABLE `+demoSchema+`.counter (n int NOT NULL);
		INSERT INTO `+demoSchema+`.counter VALUES (0);
		CREATE TABLE `+demoSchema+`.tally (id int PRIMARY KEY, n int NOT NULL);
		INSERT INTO `+demoSchema+`.tally VALUES (1, 0)`)
	return err
}

// dropSchema removes what createSchema made. It runs on its own short deadline so that it
// also cleans up after an interrupt.
func dropSchema(e *env) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := sql.Open("pgprovider", e.primaryDSN)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "DROP SCHEMA "+demoSchema+" CASCADE"); err != nil {
		return fmt.Errorf("drop schema %s: %w", demoSchema, err)
	}
	return nil
}

// counter reads the demo counter on a connection of its own, outside any proxy.
func counter(ctx context.Context, e *env) (int, error) {
	db, err := sql.Open("pgprovider", e.dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRowContext(ctx, "SELECT n FROM counter").Scan(&n)
	return n, err
}

// syncWriter serializes writes to w, so that steps with concurrent sessions can print to any
// writer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// Write writes p to the underlying writer under the lock.
func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
