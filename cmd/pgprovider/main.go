// Command pgprovider checks, listens to and benchmarks PostgreSQL servers the way the
// pgprovider driver sees them.
//
//	pgprovider check 'host=db1,db2 port=5432,5432 user=app dbname=app'
//	pgprovider listen -dsn "$DATABASE_URL" orders
//	pgprovider notify orders '{"id":42}'
//	pgprovider bench -n 5000
//
// Run pgprovider help for the details of each command. Exit codes: 0 success, 1 a check
// failed or the server could not be used, 2 wrong usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

const usage = `pgprovider: check, listen to and benchmark PostgreSQL through the pgprovider driver.

Usage:
  pgprovider <command> [flags] [arguments]

Commands:
  check  [DSN]              connect to every host of the DSN and report connect time (p50/p99),
                            server version, TLS, role (primary or standby), replica lag and
                            connection usage (pg_stat_activity against max_connections)
  listen CHANNEL...         print notifications on the channels, and every gap (a reconnect or
                            an overflow: notifications may have been missed, re-read your state)
  notify CHANNEL PAYLOAD    send one notification (SELECT pg_notify)
  bench                     SELECT 1 through raw pgx stdlib and through pgprovider, side by side,
                            and print the overhead ratio
  help [command]            show this text, or a command's flags

The DSN is a positional argument of check, otherwise -dsn, otherwise $DATABASE_URL. Both
key=value DSNs and URLs work; list several hosts to check a cluster:
  host=db1,db2,db3 port=5432,5432,5432 user=app dbname=app
  postgres://app@db1:5432,db2:5432/app?sslmode=require

Examples:
  # Is the cluster healthy? Fails (exit 1) if a host is down, usage is above 80% or a
  # replica lags more than 10s.
  pgprovider check -n 20 -max-usage 0.8 -max-lag 10s 'host=db1,db2 port=5432,5432 user=app'

  # Tail two channels for a minute, then exit 0.
  DATABASE_URL=postgres://app@db1/app pgprovider listen -for 1m orders invoices

  # Wake the listeners up.
  pgprovider notify -dsn postgres://app@db1/app orders 'order 42 paid'

  # How much does the driver cost per query here?
  pgprovider bench -n 5000 -rounds 5

Exit codes: 0 success, 1 a check failed or the server could not be used, 2 wrong usage.
`

// usageError marks errors that are the caller's mistake (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// errCheckFailed is returned when a command ran but what it checked failed (exit code 1); the
// command has already printed why.
var errCheckFailed = errors.New("check failed")

type command struct {
	name  string
	flags func(fs *flag.FlagSet) func(ctx context.Context, args []string, out, log io.Writer) error
}

var commands = []command{
	{"check", checkCmd},
	{"listen", listenCmd},
	{"notify", notifyCmd},
	{"bench", benchCmd},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, out, log io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(log, usage)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && name == "help" {
			return run(ctx, []string{args[1], "-h"}, out, out)
		}
		fmt.Fprint(out, usage)
		return exitOK
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		fs := flag.NewFlagSet("pgprovider "+name, flag.ContinueOnError)
		fs.SetOutput(log)
		exec := c.flags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitOK
			}
			return exitUsage
		}
		err := exec(ctx, fs.Args(), out, log)
		var ue usageError
		switch {
		case err == nil:
			return exitOK
		case errors.As(err, &ue):
			fmt.Fprintf(log, "pgprovider %s: %v\n", name, err)
			fs.Usage()
			return exitUsage
		case errors.Is(err, errCheckFailed):
			return exitFailed
		default:
			fmt.Fprintf(log, "pgprovider %s: %v\n", name, err)
			return exitFailed
		}
	}
	fmt.Fprintf(log, "pgprovider: unknown command %q\n\n%s", name, usage)
	return exitUsage
}

// dsnFlag registers -dsn. Its default is resolved by [resolveDSN] when the command runs, so
// that help output never prints a password found in $DATABASE_URL.
func dsnFlag(fs *flag.FlagSet) *string {
	return fs.String("dsn", "", "connection string (default $DATABASE_URL)")
}

// resolveDSN returns dsn, or $DATABASE_URL when dsn is empty.
func resolveDSN(dsn string) (string, error) {
	if dsn == "" {
		dsn = os.Getenv("DATABASE_URL")
	}
	if dsn == "" {
		return "", usagef("no DSN: pass -dsn or set DATABASE_URL")
	}
	return dsn, nil
}
