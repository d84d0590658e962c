// Command performance shows the fast paths pgprovider keeps open: a pgx Batch (many
// statements, one round trip) and CopyFrom through pgprovider.Raw on a *sql.Conn, a prepared
// statement reused for many executions, and a small timing comparison of `SELECT 1` through
// raw pgx stdlib and through pgprovider with no middleware.
//
//	DATABASE_URL='postgres://user:pass@localhost:5432/db?sslmode=disable' go run ./examples/performance
//
// The timings are indicative only (one process, no CPU pinning, whatever else the machine
// runs); bench/RESULTS.md has the pinned, side-by-side benchmark numbers.
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // raw pgx stdlib, registered as "pgx", for the comparison
	"github.com/pgprovider/pgprovider"
)

// table is created at the start and dropped at the end.
const table = "pgprovider_example_perf"

const (
	batchSize   = 200    // statements queued in one pgx Batch (and sent one by one for comparison)
	copyRows    = 20_000 // rows loaded with CopyFrom
	preparedN   = 1_000  // executions of one prepared statement
	selectN     = 2_000  // SELECT 1 round trips per timing run
	timingRound = 3      // alternating timing runs per driver; the best is kept
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
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	db, err := pgprovider.Open(dsn) // no middleware: the empty chain
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+table); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+table+" (id int PRIMARY KEY, name text NOT NULL, score float8 NOT NULL)"); err != nil {
		return err
	}
	defer func() {
		if _, derr := db.ExecContext(context.Background(), "DROP TABLE "+table); err == nil {
			err = derr
		}
	}()

	if err := copyFrom(ctx, db); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if err := batch(ctx, db); err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	if err := prepared(ctx, db); err != nil {
		return fmt.Errorf("prepared: %w", err)
	}
	return compare(ctx, dsn, db)
}

// copyFrom bulk-loads rows with pgx's COPY protocol on the connection behind a *sql.Conn.
func copyFrom(ctx context.Context, db *sql.DB) error {
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) { // rows are generated as COPY streams them
		if i == copyRows {
			return nil, nil
		}
		i++
		return []any{i, fmt.Sprintf("row-%05d", i), float64(i%100) / 10}, nil
	})
	t0 := time.Now()
	var n int64
	err = pgprovider.Raw(ctx, c, func(ctx context.Context, pc *pgx.Conn) error {
		var err error
		n, err = pc.CopyFrom(ctx, pgx.Identifier{table}, []string{"id", "name", "score"}, src)
		return err
	})
	if err != nil {
		return err
	}
	d := time.Since(t0)
	fmt.Printf("CopyFrom via pgprovider.Raw: %d rows in %s (%.0f rows/s)\n", n, d.Round(time.Millisecond), float64(n)/d.Seconds())
	return nil
}

// batch sends batchSize updates and a read in one pgx Batch (one round trip), then the same
// updates one Exec at a time through database/sql, and compares the times.
func batch(ctx context.Context, db *sql.DB) error {
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	const upd = "UPDATE " + table + " SET score = score + 1 WHERE id = $1"

	t0 := time.Now()
	var updated int64
	var total float64
	err = pgprovider.Raw(ctx, c, func(ctx context.Context, pc *pgx.Conn) error {
		b := &pgx.Batch{}
		for id := 1; id <= batchSize; id++ {
			b.Queue(upd, id).Exec(func(ct pgconn.CommandTag) error {
				updated += ct.RowsAffected()
				return nil
			})
		}
		b.Queue("SELECT sum(score) FROM "+table+" WHERE id <= $1", batchSize).QueryRow(func(row pgx.Row) error {
			return row.Scan(&total)
		})
		return pc.SendBatch(ctx, b).Close() // runs the callbacks, returns the first error
	})
	if err != nil {
		return err
	}
	dBatch := time.Since(t0)

	t0 = time.Now()
	for id := 1; id <= batchSize; id++ {
		if _, err := c.ExecContext(ctx, upd, id); err != nil {
			return err
		}
	}
	dLoop := time.Since(t0)
	fmt.Printf("pgx Batch via pgprovider.Raw: %d updates + 1 query in one round trip: %s (sum now %.1f); the same %d updates one Exec each: %s (%.1fx)\n",
		updated, dBatch.Round(time.Microsecond), total, batchSize, dLoop.Round(time.Microsecond), float64(dLoop)/float64(dBatch))
	return nil
}

// prepared prepares one query and runs it preparedN times; pgprovider runs it as a prepared
// statement on the backend that prepared it (parse and plan once).
func prepared(ctx context.Context, db *sql.DB) error {
	st, err := db.PrepareContext(ctx, "SELECT name, score FROM "+table+" WHERE id = $1")
	if err != nil {
		return err
	}
	defer st.Close()
	t0 := time.Now()
	var sum float64
	for i := 0; i < preparedN; i++ {
		var name string
		var score float64
		if err := st.QueryRowContext(ctx, 1+i%copyRows).Scan(&name, &score); err != nil {
			return err
		}
		sum += score
	}
	d := time.Since(t0)
	fmt.Printf("prepared statement: 1 prepare, %d executions in %s (%s per execution; score sum %.1f)\n",
		preparedN, d.Round(time.Millisecond), (d / preparedN).Round(time.Microsecond), sum)
	return st.Close()
}

// result is one timing run.
type result struct {
	nsPerOp     float64
	allocsPerOp float64
}

// compare times selectN `SELECT 1` round trips through raw pgx stdlib and through pgprovider
// with an empty chain, each on one pooled connection, alternating the drivers and keeping each
// one's best run.
func compare(ctx context.Context, dsn string, pp *sql.DB) error {
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer raw.Close()
	dbs := []struct {
		name string
		db   *sql.DB
		best result
	}{{name: "pgx stdlib (raw)", db: raw}, {name: "pgprovider (empty chain)", db: pp}}
	for i := range dbs {
		dbs[i].db.SetMaxOpenConns(1)
		dbs[i].db.SetMaxIdleConns(1)
		if _, err := selectLoop(ctx, dbs[i].db, 200); err != nil { // connect and warm up
			return err
		}
	}
	for round := 0; round < timingRound; round++ {
		for i := range dbs {
			r, err := selectLoop(ctx, dbs[i].db, selectN)
			if err != nil {
				return err
			}
			if round == 0 || r.nsPerOp < dbs[i].best.nsPerOp {
				dbs[i].best.nsPerOp = r.nsPerOp
			}
			if round == 0 || r.allocsPerOp < dbs[i].best.allocsPerOp {
				dbs[i].best.allocsPerOp = r.allocsPerOp
			}
		}
	}
	fmt.Printf("SELECT 1 x %d, one connection, best of %d runs:\n", selectN, timingRound)
	for _, d := range dbs {
		fmt.Printf("  %-26s %8.0f ns/op %6.1f allocs/op\n", d.name, d.best.nsPerOp, d.best.allocsPerOp)
	}
	r, p := dbs[0].best, dbs[1].best
	fmt.Printf("  ratio pgprovider/raw: %.2fx ns/op, %.2fx allocs/op\n", p.nsPerOp/r.nsPerOp, p.allocsPerOp/r.allocsPerOp)
	fmt.Println("  (indicative only: unpinned, one process; bench/RESULTS.md has the pinned, side-by-side numbers)")
	return nil
}

// selectLoop runs n `SELECT 1` round trips and returns the time and the heap allocations
// (runtime.MemStats.Mallocs) per round trip.
func selectLoop(ctx context.Context, db *sql.DB, n int) (result, error) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		var one int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			return result{}, err
		}
	}
	d := time.Since(t0)
	runtime.ReadMemStats(&after)
	return result{
		nsPerOp:     float64(d.Nanoseconds()) / float64(n),
		allocsPerOp: float64(after.Mallocs-before.Mallocs) / float64(n),
	}, nil
}
