package suite

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Workload is one database operation, repeated by a benchmark.
type Workload struct {
	// Name is short and has no spaces or slashes: it becomes part of a benchmark name.
	Name string
	// Doc describes the workload in one line for the report.
	Doc string
	// Op runs the operation once; i varies per call.
	Op func(ctx context.Context, db *sql.DB, i int) error
}

// InsertTable is the table the insert workloads write to; [Setup] creates it, and each
// *sql.DB gets a table of its own named after it (see insertSQLFor).
const InsertTable = "bench_insert"

const insertSQL = "INSERT INTO " + InsertTable + " (v) VALUES ($1)"

var (
	setupDB  atomic.Pointer[sql.DB] // the connection pool Setup ran on: it creates the tables
	inserts  sync.Map               // *sql.DB -> its INSERT statement
	tableSeq atomic.Int64
)

// insertSQLFor returns the INSERT statement of db's own table, creating the table (through
// the pool Setup ran on, so that every table has the same creator) the first time. Backends
// that insert in turn into one shared table disturb each other's insert target page: with
// one table, created by raw pgx stdlib's connection, every other variant measured about
// ×1.05 on INSERT against ×1.01 with a table each (paired loops of raw, empty and five, 2026-11).
func insertSQLFor(ctx context.Context, db *sql.DB) (string, error) {
	if v, ok := inserts.Load(db); ok {
		return v.(string), nil
	}
	admin := setupDB.Load()
	if admin == nil {
		return insertSQL, nil
	}
	name := fmt.Sprintf("%s_%d", InsertTable, tableSeq.Add(1))
	if _, err := admin.ExecContext(ctx, "DROP TABLE IF EXISTS "+name+"; CREATE TABLE "+name+" (v int)"); err != nil {
		return "", err
	}
	v, _ := inserts.LoadOrStore(db, "INSERT INTO "+name+" (v) VALUES ($1)")
	return v.(string), nil
}

// Workloads returns every workload.
func Workloads() []Workload {
	return []Workload{
		{Name: "select1", Doc: "QueryRow(`SELECT 1`).Scan", Op: select1},
		{Name: "arg", Doc: "QueryRow(`SELECT $1::int`, i%256).Scan", Op: selectArg},
		{Name: "insert", Doc: "Exec(`INSERT INTO bench_insert (v) VALUES ($1)`, i%256)", Op: insert},
		{Name: "scan100", Doc: "Query(`SELECT g FROM generate_series(1, 100) g`), scan 100 rows", Op: scan100},
		{Name: "tx", Doc: "BeginTx + Exec(INSERT) + Commit", Op: txInsert},
	}
}

// SelectWorkloads keeps the workloads named in the comma-separated list (all when empty).
func SelectWorkloads(ws []Workload, names string) []Workload {
	if names == "" {
		return ws
	}
	var out []Workload
	for _, n := range strings.Split(names, ",") {
		for _, w := range ws {
			if w.Name == strings.TrimSpace(n) {
				out = append(out, w)
			}
		}
	}
	return out
}

func select1(ctx context.Context, db *sql.DB, _ int) error {
	var n int
	return db.QueryRowContext(ctx, "SELECT 1").Scan(&n)
}

// smallInt keeps an argument below 256: Go boxes such ints into an interface without
// allocating, so allocs/op does not depend on how many iterations a sample ran.
func smallInt(i int) int { return i & 0xff }

func selectArg(ctx context.Context, db *sql.DB, i int) error {
	i = smallInt(i)
	var n int
	if err := db.QueryRowContext(ctx, "SELECT $1::int", i).Scan(&n); err != nil {
		return err
	}
	if n != i {
		return fmt.Errorf("SELECT $1::int: got %d, want %d", n, i)
	}
	return nil
}

func insert(ctx context.Context, db *sql.DB, i int) error {
	q, err := insertSQLFor(ctx, db)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, q, smallInt(i))
	return err
}

func scan100(ctx context.Context, db *sql.DB, _ int) error {
	rows, err := db.QueryContext(ctx, "SELECT g FROM generate_series(1, 100) g")
	if err != nil {
		return err
	}
	n, sum := 0, 0
	for rows.Next() {
		var g int
		if err := rows.Scan(&g); err != nil {
			rows.Close()
			return err
		}
		n++
		sum += g
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if n != 100 || sum != 5050 {
		return fmt.Errorf("generate_series: %d rows, sum %d", n, sum)
	}
	return nil
}

func txInsert(ctx context.Context, db *sql.DB, i int) error {
	q, err := insertSQLFor(ctx, db) // before BeginTx: creating the table needs a connection
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, q, smallInt(i)); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Setup creates (or empties) the table the insert workloads use.
func Setup(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+InsertTable+"; CREATE TABLE "+InsertTable+" (v int)")
	if err == nil {
		setupDB.Store(db)
	}
	return err
}

// Run benchmarks w on db. With conns <= 1 it runs serially on the calling goroutine; otherwise
// it runs conns goroutines in parallel (b.RunParallel), for a pool of conns connections.
func Run(b *testing.B, db *sql.DB, w Workload, conns int) {
	ctx := context.Background()
	b.ReportAllocs()
	if conns <= 1 {
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := w.Op(ctx, db, i); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((conns + procs - 1) / procs)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if err := w.Op(ctx, db, i); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
