package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"

	"github.com/pgprovider/pgprovider/bench/internal/suite"
	"github.com/pgprovider/pgprovider/internal/pgtest"
)

// memConns is the number of connections the memory measurement opens per variant.
const memConns = 500

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, pgtest.Options{MaxConnections: memConns + 100}))
}

// server returns $BENCH_DSN or the DSN of the package's temporary cluster. With BENCH_PIN=1
// it then pins this process to CPU 0 (the server started before, so it is not pinned itself).
func server(tb testing.TB) (dsn string, local bool) {
	tb.Helper()
	if dsn := os.Getenv("BENCH_DSN"); dsn != "" {
		return dsn, false
	}
	dsn = pgtest.Shared(tb).Primary().DSN()
	if os.Getenv("BENCH_PIN") == "1" {
		if err := suite.PinProcess(0); err != nil {
			tb.Fatal(err)
		}
	}
	return dsn, true
}

// BenchmarkDriver runs every workload through every variant, with one connection and with 8
// in parallel. Names are key=value so that benchstat can compare variants:
//
//	go test -run '^$' -bench Driver -count 6 | tee out.txt && benchstat -col /variant out.txt
//
// With BENCH_PIN=1 the benchmark process and the server backends it uses are pinned to CPU 0.
// bench/run.sh (go run ./cmd/benchreport) interleaves variants and writes RESULTS.md.
func BenchmarkDriver(b *testing.B) {
	dsn, local := server(b)
	pin := local && os.Getenv("BENCH_PIN") == "1"
	ctx := context.Background()
	dbs := map[string]*sql.DB{}
	b.Cleanup(func() {
		for _, db := range dbs {
			_ = db.Close()
		}
	})
	open := func(v suite.Variant, conns int) *sql.DB {
		key := fmt.Sprint(v.Name, "/", conns)
		if db := dbs[key]; db != nil {
			return db
		}
		db, err := v.Open(dsn)
		if err != nil {
			b.Fatal(err)
		}
		dbs[key] = db
		return db
	}
	{
		db := open(suite.Variants()[0], 1)
		if err := suite.Setup(ctx, db); err != nil {
			b.Fatal(err)
		}
	}
	for _, w := range suite.Workloads() {
		b.Run("work="+w.Name, func(b *testing.B) {
			for _, conns := range []int{1, 8} {
				b.Run(fmt.Sprint("conns=", conns), func(b *testing.B) {
					for _, v := range suite.Variants() {
						b.Run("variant="+v.Name, func(b *testing.B) {
							db := open(v, conns)
							if err := suite.WarmAndPin(ctx, db, conns, pin, 0); err != nil {
								b.Fatal(err)
							}
							suite.Run(b, db, w, conns)
						})
					}
				})
			}
		})
	}
}

// TestMemoryPerConnection measures the live heap of open connections through raw pgx stdlib
// and through pgprovider with an empty chain, and checks that pgprovider's wrapper adds at most
// 1 KiB per connection.
func TestMemoryPerConnection(t *testing.T) {
	dsn, _ := server(t)
	n := memConns
	if testing.Short() {
		n = 100
	}
	ctx := context.Background()
	vs := suite.Variants()
	per := map[string]float64{}
	for _, v := range vs[:3] { // raw, empty chain, five pass-through
		b, err := suite.MemoryPerConn(ctx, v, dsn, n)
		if err != nil {
			t.Fatal(err)
		}
		per[v.Name] = b
		t.Logf("%-6s %d connections: %.0f B of heap per connection", v.Name, n, b)
	}
	for _, name := range []string{"empty", "five"} {
		over := per[name] - per[suite.Raw]
		t.Logf("%s: wrapper overhead %.0f B per connection", name, over)
		if over > 1024 {
			t.Errorf("%s: wrapper overhead %.0f B per connection, want at most 1024", name, over)
		}
	}
}

// TestWorkloadsKeepBackend checks that every workload runs through every variant without
// errors and on the same server backend: a variant that broke or replaced its connection on
// each operation would make its benchmark figures meaningless.
func TestWorkloadsKeepBackend(t *testing.T) {
	dsn, _ := server(t)
	ctx := context.Background()
	for _, v := range suite.Variants() {
		t.Run(v.Name, func(t *testing.T) {
			db, err := v.Open(dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := suite.Setup(ctx, db); err != nil {
				t.Fatal(err)
			}
			pids, err := suite.Warm(ctx, db, 1)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range suite.Workloads() {
				for i := range 5 {
					if err := w.Op(ctx, db, i); err != nil {
						t.Fatalf("%s #%d: %v", w.Name, i, err)
					}
				}
				var pid int
				if err := db.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
					t.Fatalf("after %s: %v", w.Name, err)
				}
				if pid != pids[0] {
					t.Errorf("after %s: backend %d, want %d (the connection was replaced)", w.Name, pid, pids[0])
				}
				if st := db.Stats(); st.OpenConnections != 1 {
					t.Errorf("after %s: %d open connections, want 1", w.Name, st.OpenConnections)
				}
			}
		})
	}
}
