package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pgprovider/pgprovider/middleware"
)

// newLogger returns a middleware that prints every operation it sees to w: the operation, its
// SQL (on one line), how long it took and its error. It ranks as an observer, so it goes first
// (outermost) in a chain with other built-in middleware.
func newLogger(w io.Writer) middleware.Wrappers {
	l := logger{w: w}
	return middleware.Wrappers{
		Rank:      middleware.RankObserve,
		Connect:   l.call,
		Ping:      l.call,
		Commit:    l.call,
		Rollback:  l.call,
		Raw:       l.call,
		StmtClose: l.call,
		Begin: func(next middleware.BeginFunc) middleware.BeginFunc {
			return func(ctx context.Context, b middleware.Begin) error {
				t0 := time.Now()
				err := next(ctx, b)
				l.print(middleware.OpBegin, txOptions(b.Opts), time.Since(t0), err, "")
				return err
			}
		},
		Prepare: func(next middleware.PrepareFunc) middleware.PrepareFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Stmt, error) {
				t0 := time.Now()
				st, err := next(ctx, s)
				l.print(s.Op, s.SQL, time.Since(t0), err, "")
				return st, err
			}
		},
		Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
				t0 := time.Now()
				res, err := next(ctx, s)
				extra := ""
				if err == nil {
					if n, rerr := res.RowsAffected(); rerr == nil {
						extra = fmt.Sprintf("%d row(s) affected", n)
					}
				}
				l.print(s.Op, s.SQL, time.Since(t0), err, extra)
				return res, err
			}
		},
		Query: func(next middleware.QueryFunc) middleware.QueryFunc {
			return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
				t0 := time.Now()
				rows, err := next(ctx, s)
				l.print(s.Op, s.SQL, time.Since(t0), err, "")
				return rows, err
			}
		},
		RowsEnd: func(next middleware.RowsEndFunc) middleware.RowsEndFunc {
			return func(ctx context.Context, e middleware.RowsEnd) error {
				err := next(ctx, e)
				shown := err
				if shown == nil {
					shown = e.Err
				}
				l.print(middleware.OpRowsEnd, "", e.Duration, shown, fmt.Sprintf("%d row(s) read", e.Rows))
				return err
			}
		},
	}
}

// logger prints one line per operation.
type logger struct{ w io.Writer }

// call wraps the operations that carry no statement.
func (l logger) call(next middleware.CallFunc) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error {
		t0 := time.Now()
		err := next(ctx, c)
		l.print(c.Op, c.SQL, time.Since(t0), err, "")
		return err
	}
}

// print writes one line with a single Write, so lines of concurrent sessions do not mix.
func (l logger) print(op middleware.Op, sql string, d time.Duration, err error, extra string) {
	var b strings.Builder
	fmt.Fprintf(&b, "  | %-10s %8.2fms", op, float64(d)/float64(time.Millisecond))
	if sql != "" {
		b.WriteString("  " + oneLine(sql))
	}
	if extra != "" {
		b.WriteString("  (" + extra + ")")
	}
	if err != nil {
		b.WriteString("  error: " + err.Error())
	}
	b.WriteByte('\n')
	_, _ = io.WriteString(l.w, b.String())
}

// oneLine collapses whitespace so multi-line SQL prints on one line, and shortens it.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// txOptions describes non-default transaction options, e.g. "isolation=serializable read-only".
func txOptions(o driver.TxOptions) string {
	var parts []string
	if o.Isolation != driver.IsolationLevel(sql.LevelDefault) {
		parts = append(parts, "isolation="+strings.ReplaceAll(strings.ToLower(sql.IsolationLevel(o.Isolation).String()), " ", "-"))
	}
	if o.ReadOnly {
		parts = append(parts, "read-only")
	}
	return strings.Join(parts, " ")
}
