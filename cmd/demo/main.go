// Command demo shows, against a real PostgreSQL, what decides whether to trust pgprovider with
// your data: a write cut off mid-flight is not applied twice (as it is with pgx stdlib), a
// transaction is retried after a serialization failure, tenants stay isolated on a shared pooled
// connection, a LISTEN subscriber learns when it may have missed notifications, and writes go on
// through a live failover. Run it with bash scripts/demo.sh (or go run ./cmd/demo).
//
// Without DATABASE_URL it starts a temporary primary and streaming replica with the project's
// test harness (the PostgreSQL server binaries must be installed: scripts/ensure-postgres.sh)
// and removes them on exit. With DATABASE_URL it works in schemas of its own (pgprovider_demo*,
// dropped at the end) and leaves out the failover. Every operation the driver performs is
// printed ("  | ...") by the pgslog middleware; everyday use is shown in examples/.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
)

// demoSchema holds the demo's tables (on the search_path of e.dsn); the tenants' schemas are
// demoSchema+"_acme" and demoSchema+"_globex".
const demoSchema = "pgprovider_demo"

// env is what the steps share.
type env struct {
	out        io.Writer
	cluster    *pgtest.Cluster // nil when DATABASE_URL is used
	primaryDSN string          // as given
	dsn        string          // primaryDSN with search_path=demoSchema
	db         *sql.DB         // pgprovider on dsn, with the logging middleware
	admin      *sql.DB         // pgprovider on primaryDSN, without middleware
}

// steps run in order.
var steps = []struct {
	title string
	run   func(context.Context, *env) error
}{
	{"a connection cut after the UPDATE was sent: pgx stdlib vs pgprovider", stepBadConn},
	{"retry.Tx after a serialization failure", stepRetry},
	{"tenant isolation: schema per tenant on one pooled connection", stepTenants},
	{"LISTEN/NOTIFY across a killed listener connection", stepListen},
	{"replica routing and a live failover (kill the primary, promote the replica)", stepFailover}, // kills the primary: last
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout) // the failover step prints from two goroutines: an *os.File is safe for that
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
	e := &env{out: out, primaryDSN: os.Getenv("DATABASE_URL")}
	if e.primaryDSN != "" {
		fmt.Fprintln(out, "using DATABASE_URL (no failover step)")
	} else {
		fmt.Fprintln(out, "starting a temporary PostgreSQL cluster: primary + 1 streaming replica ...")
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
		e.cluster, e.primaryDSN = c, c.Primary().DSN()
		fmt.Fprintf(out, "cluster up in %s: primary on port %d, replica on %d\n", time.Since(start).Round(time.Millisecond), c.Nodes[0].Port, c.Nodes[1].Port)
	}
	e.dsn = dsnWith(e.primaryDSN, "search_path", demoSchema)

	if e.admin, err = pgprovider.Open(e.primaryDSN); err != nil { // no middleware, nothing logged
		return err
	}
	defer e.admin.Close()
	const s = demoSchema
	if _, err := e.admin.ExecContext(ctx, `
		CREATE SCHEMA `+s+`;
		CREATE TABLE `+s+`.items (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
		CREATE TABLE `+s+`.counter (n int NOT NULL);
		INSERT INTO `+s+`.counter VALUES (0);
		CREATE SCHEMA `+s+`_acme;
		CREATE TABLE `+s+`_acme.orders (item text NOT NULL);
		INSERT INTO `+s+`_acme.orders VALUES ('anvil'), ('rocket skates');
		CREATE SCHEMA `+s+`_globex;
		CREATE TABLE `+s+`_globex.orders (item text NOT NULL);
		INSERT INTO `+s+`_globex.orders VALUES ('doomsday device')`); err != nil {
		return fmt.Errorf("create the demo's schemas (an interrupted run may have left them: drop %s*): %w", s, err)
	}
	if e.cluster == nil { // a temporary cluster is thrown away whole
		defer func() { // on a deadline of its own, so that it also cleans up after an interrupt
			dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, derr := e.admin.ExecContext(dctx, "DROP SCHEMA "+s+", "+s+"_acme, "+s+"_globex CASCADE"); derr != nil && err == nil {
				err = fmt.Errorf("drop the demo's schemas: %w", derr)
			}
		}()
	}
	if e.db, err = pgprovider.Open(e.dsn, pgprovider.WithMiddleware(newLogger(out))); err != nil {
		return err
	}
	defer e.db.Close()

	for i, s := range steps {
		fmt.Fprintf(out, "\n== %d. %s\n", i+1, s.title)
		if err := s.run(ctx, e); err != nil {
			return fmt.Errorf("step %q: %w", s.title, err)
		}
	}
	fmt.Fprintf(out, "\nall steps passed in %s; tearing down\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// dsnWith returns dsn (a URL or key=value string) with the settings kv (key, value, ...)
// added; they override earlier ones.
func dsnWith(dsn string, kv ...string) string {
	isURL := strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
	for i := 0; i+1 < len(kv); i += 2 {
		switch {
		case !isURL:
			dsn += " " + kv[i] + "='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(kv[i+1]) + "'"
		case strings.Contains(dsn, "?"):
			dsn += "&" + url.QueryEscape(kv[i]) + "=" + url.QueryEscape(kv[i+1])
		default:
			dsn += "?" + url.QueryEscape(kv[i]) + "=" + url.QueryEscape(kv[i+1])
		}
	}
	return dsn
}
