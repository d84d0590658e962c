package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // raw pgx stdlib, registered as "pgx", for comparison
	_ "github.com/pgprovider/pgprovider"
)

func benchCmd(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) error {
	dsn := dsnFlag(fs)
	n := fs.Int("n", 2000, "queries per round and driver")
	rounds := fs.Int("rounds", 3, "rounds; each driver's fastest round counts")
	query := fs.String("query", "SELECT 1", "the statement to time (it must return rows)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: pgprovider bench [flags]

Times -query through raw pgx stdlib (database/sql driver "pgx") and through pgprovider (no
middleware), on one connection each, alternating rounds, and prints the fastest round of each
and the ratio. A ratio near 1.00 means the driver costs nothing measurable here; the network
round trip usually dominates. For figures to publish, pin the process and the server to one
CPU (see bench/ in the repository).

Examples:
  pgprovider bench                       # 3 rounds of 2000 SELECT 1
  pgprovider bench -n 10000 -rounds 5 -dsn postgres://app@db1/app

Flags:
`)
		fs.PrintDefaults()
	}
	return func(ctx context.Context, args []string, out, log io.Writer) error {
		if len(args) > 0 {
			return usagef("unexpected arguments %q", args)
		}
		dsn, err := resolveDSN(*dsn)
		if err != nil {
			return err
		}
		if *n < 1 || *rounds < 1 {
			return usagef("-n and -rounds must be at least 1")
		}
		drivers := []string{"pgx", "pgprovider"}
		dbs := make([]*sql.DB, len(drivers))
		for i, name := range drivers {
			db, err := sql.Open(name, dsn)
			if err != nil {
				return usagef("%v", err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			db.SetMaxIdleConns(1)
			if err := db.PingContext(ctx); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			dbs[i] = db
		}
		best := []time.Duration{0, 0}
		for r := range *rounds {
			for i, db := range dbs {
				d, err := timeQueries(ctx, db, *query, *n)
				if err != nil {
					return fmt.Errorf("%s: %w", drivers[i], err)
				}
				if best[i] == 0 || d < best[i] {
					best[i] = d
				}
				fmt.Fprintf(log, "round %d/%d %-10s %v/op\n", r+1, *rounds, drivers[i], d/time.Duration(*n))
			}
		}
		raw, ours := best[0]/time.Duration(*n), best[1]/time.Duration(*n)
		fmt.Fprintf(out, "query:      %s (%d per round, %d rounds, fastest round)\n", *query, *n, *rounds)
		fmt.Fprintf(out, "pgx stdlib: %v/op\n", raw)
		fmt.Fprintf(out, "pgprovider: %v/op\n", ours)
		fmt.Fprintf(out, "ratio:      %.3f (pgprovider / pgx stdlib)\n", float64(best[1])/float64(best[0]))
		return nil
	}
}

func timeQueries(ctx context.Context, db *sql.DB, query string, n int) (time.Duration, error) {
	start := time.Now()
	for range n {
		rows, err := db.QueryContext(ctx, query)
		if err != nil {
			return 0, err
		}
		for rows.Next() {
		}
		if err := rows.Close(); err != nil {
			return 0, err
		}
		if err := rows.Err(); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}
