// Command icount runs one workload of one variant n times on one connection, after a warm-up,
// so that valgrind can count the client's instructions, or perf can sample where its time goes:
//
//	BENCH_DSN='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' GOMAXPROCS=1 GOGC=off \
//	  valgrind --tool=callgrind --callgrind-out-file=cg.out icount -variant empty -n 6000
//	callgrind_annotate --inclusive=no cg.out | grep pgprovider/pgprovider\.
//
// A function's own instruction count divided by the operations run (n plus the warm-up) is
// what it adds per operation, a figure that does not move with the machine's load; totals do
// move a little, with the scheduler's work while the client waits for the server. With -pin,
// the process and its connection's server backend share one CPU, as in bench/run.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/pgprovider/pgprovider/bench/internal/suite"
)

func main() {
	variant := flag.String("variant", "raw", "variant name")
	workload := flag.String("workload", "select1", "workload name")
	n := flag.Int("n", 1000, "operations after the warm-up")
	warm := flag.Int("warm", 200, "warm-up operations")
	pin := flag.Int("pin", -1, "pin this process and the connection's server backend to this CPU (-1: no pinning)")
	flag.Parse()
	dsn := os.Getenv("BENCH_DSN")
	if dsn == "" {
		fmt.Fprintln(os.Stderr, "icount: BENCH_DSN must name a running server")
		os.Exit(2)
	}
	if err := run(dsn, *variant, *workload, *n, *warm, *pin); err != nil {
		fmt.Fprintln(os.Stderr, "icount:", err)
		os.Exit(1)
	}
}

func run(dsn, variant, workload string, n, warm, pin int) error {
	ctx := context.Background()
	vs := suite.Select(suite.Variants(), variant)
	var v *suite.Variant
	for i := range vs {
		if vs[i].Name == variant {
			v = &vs[i]
		}
	}
	ws := suite.SelectWorkloads(suite.Workloads(), workload)
	if v == nil || len(ws) != 1 {
		return fmt.Errorf("unknown variant %q or workload %q", variant, workload)
	}
	db, err := v.Open(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	if err := suite.Setup(ctx, db); err != nil {
		return err
	}
	if pin >= 0 {
		if err := suite.PinProcess(pin); err != nil {
			return err
		}
		if err := suite.WarmAndPin(ctx, db, 1, true, pin); err != nil {
			return err
		}
	}
	for i := 0; i < warm+n; i++ {
		if err := ws[0].Op(ctx, db, i); err != nil {
			return err
		}
	}
	return nil
}
