package middleware_test

import (
	"context"
	"database/sql/driver"
	"fmt"

	"github.com/pgprovider/pgprovider/middleware"
)

// printer is a middleware that prints around each exec.
type printer string

func (p printer) WrapExec(next middleware.ExecFunc) middleware.ExecFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
		fmt.Println(p, "before")
		res, err := next(ctx, s)
		fmt.Println(p, "after")
		return res, err
	}
}

// fakeExecutor stands in for pgx.
type fakeExecutor struct{ middleware.Executor }

func (fakeExecutor) Exec(ctx context.Context, s middleware.Statement) (driver.Result, error) {
	fmt.Println("executor runs:", s.SQL)
	return driver.RowsAffected(1), nil
}

// The first middleware listed is the outermost.
func ExampleChain() {
	chain, err := middleware.NewChain(fakeExecutor{}, printer("outer"), nil, printer("inner"))
	if err != nil {
		panic(err)
	}
	_, _ = chain.Exec(context.Background(), middleware.Statement{Op: middleware.OpExec, SQL: "UPDATE t SET n = n + 1"})
	// Output:
	// outer before
	// inner before
	// executor runs: UPDATE t SET n = n + 1
	// inner after
	// outer after
}

// Funcs builds a middleware from the operations it cares about; the others pass through free.
func ExampleFuncs() {
	count := 0
	counter := middleware.Funcs{Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
		return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
			count++
			return next(ctx, s)
		}
	}}
	chain, _ := middleware.NewChain(fakeExecutor{}, counter)
	_, _ = chain.Exec(context.Background(), middleware.Statement{SQL: "SELECT 1"})
	fmt.Println("execs:", count, "query wrapped:", chain.Wraps(middleware.OpQuery))
	// Output:
	// executor runs: SELECT 1
	// execs: 1 query wrapped: false
}
