package pgprovider_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/pgerror"
)

func TestQueryExecPrepare(t *testing.T) { forEachChain(t, testQueryExecPrepare) }

func testQueryExecPrepare(t *testing.T, ch chain) {
	db := openDB(t, ch.opts...)
	ctx := ctxT(t)
	mustExec(t, db, `create table if not exists qep (id int primary key, name text, note text)`)
	mustExec(t, db, `truncate qep`)

	res, err := db.ExecContext(ctx, `insert into qep values ($1, $2, $3), ($4, $5, NULL)`, 1, "a", "x", 2, "b")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 2 {
		t.Fatalf("rows affected %d", n)
	}
	// Without arguments (simple protocol path).
	if _, err := db.ExecContext(ctx, `update qep set name = upper(name)`); err != nil {
		t.Fatal(err)
	}
	var name string
	var note sql.NullString
	if err := db.QueryRowContext(ctx, `select name, note from qep where id = $1`, 2).Scan(&name, &note); err != nil {
		t.Fatal(err)
	}
	if name != "B" || note.Valid {
		t.Fatalf("got %q %v", name, note)
	}
	if err := db.QueryRowContext(ctx, `select name from qep where id = 99`).Scan(&name); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("want ErrNoRows, got %v", err)
	}

	st, err := db.PrepareContext(ctx, `select name from qep where id = $1`)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := 0; i < 20; i++ { // reused across pooled connections
		id := 1 + i%2
		if err := st.QueryRowContext(ctx, id).Scan(&name); err != nil {
			t.Fatal(err)
		}
		if want := map[int]string{1: "A", 2: "B"}[id]; name != want {
			t.Fatalf("prepared: got %q want %q", name, want)
		}
	}
	ins, err := db.PrepareContext(ctx, `insert into qep values ($1, 'p', NULL)`)
	if err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 15; i++ {
		if _, err := ins.ExecContext(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	ins.Close()
	var count int
	if err := db.QueryRowContext(ctx, `select count(*) from qep`).Scan(&count); err != nil || count != 7 {
		t.Fatalf("count %d %v", count, err)
	}
}

func TestTransactions(t *testing.T) { forEachChain(t, testTransactions) }

func testTransactions(t *testing.T, ch chain) {
	db := openDB(t, ch.opts...)
	ctx := ctxT(t)
	mustExec(t, db, `create table if not exists txt (n int)`)
	levels := []struct {
		level sql.IsolationLevel
		want  string
	}{
		{sql.LevelDefault, "read committed"},
		{sql.LevelReadUncommitted, "read uncommitted"},
		{sql.LevelReadCommitted, "read committed"},
		{sql.LevelRepeatableRead, "repeatable read"},
		{sql.LevelSnapshot, "repeatable read"},
		{sql.LevelSerializable, "serializable"},
	}
	for _, ro := range []bool{false, true} {
		for _, l := range levels {
			t.Run(fmt.Sprintf("%v/ro=%v", l.level, ro), func(t *testing.T) {
				tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: l.level, ReadOnly: ro})
				if err != nil {
					t.Fatal(err)
				}
				var iso, readOnly string
				if err := tx.QueryRowContext(ctx, `select current_setting('transaction_isolation'), current_setting('transaction_read_only')`).Scan(&iso, &readOnly); err != nil {
					t.Fatal(err)
				}
				if iso != l.want || readOnly != map[bool]string{true: "on", false: "off"}[ro] {
					t.Fatalf("got %s %s", iso, readOnly)
				}
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
	if _, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelLinearizable}); err == nil {
		t.Fatal("linearizable should be refused")
	}

	t.Run("savepoints", func(t *testing.T) {
		mustExec(t, db, `truncate txt`)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, tx, `insert into txt values (1)`)
		mustExec(t, tx, `savepoint s1`)
		mustExec(t, tx, `insert into txt values (2)`)
		if _, err := tx.ExecContext(ctx, `insert into txt values ('x')`); err == nil {
			t.Fatal("want error")
		}
		mustExec(t, tx, `rollback to savepoint s1`)
		mustExec(t, tx, `insert into txt values (3)`)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		var sum int
		if err := db.QueryRowContext(ctx, `select sum(n) from txt`).Scan(&sum); err != nil || sum != 4 {
			t.Fatalf("sum %d %v", sum, err)
		}
	})
	t.Run("rollback", func(t *testing.T) {
		mustExec(t, db, `truncate txt`)
		tx, _ := db.BeginTx(ctx, nil)
		mustExec(t, tx, `insert into txt values (1)`)
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `select count(*) from txt`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("count %d %v", n, err)
		}
	})
	t.Run("readonly refuses writes", func(t *testing.T) {
		tx, _ := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `insert into txt values (1)`); err == nil || !strings.Contains(err.Error(), "25006") {
			t.Fatalf("want 25006, got %v", err)
		}
	})
}

func TestRawCopyFromAndPgxArgs(t *testing.T) { forEachChain(t, testRawCopyFromAndPgxArgs) }

func testRawCopyFromAndPgxArgs(t *testing.T, ch chain) {
	db := openDB(t, ch.opts...)
	ctx := ctxT(t)
	mustExec(t, db, `create table if not exists cpy (id int, tags int[])`)
	mustExec(t, db, `truncate cpy`)
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Raw(func(dc any) error {
		pc, ok := pgprovider.PgxConn(dc)
		if !ok {
			return errors.New("PgxConn: not ok")
		}
		n, err := pc.CopyFrom(ctx, pgx.Identifier{"cpy"}, []string{"id", "tags"},
			pgx.CopyFromRows([][]any{{1, []int32{1, 2}}, {2, []int32{3}}, {3, nil}}))
		if n != 3 {
			return fmt.Errorf("copied %d", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = pgprovider.Raw(ctx, c, func(ctx context.Context, pc *pgx.Conn) error {
		_, err := pc.CopyFrom(ctx, pgx.Identifier{"cpy"}, []string{"id"}, pgx.CopyFromRows([][]any{{4}}))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := pgprovider.PgxConn("not a conn"); ok {
		t.Fatal("PgxConn of a foreign value")
	}

	// GORM passes pgx.QueryExecModeSimpleProtocol as the first argument.
	var n int
	if err := db.QueryRowContext(ctx, `select count(*) from cpy where id > $1`, pgx.QueryExecModeSimpleProtocol, 1).Scan(&n); err != nil || n != 3 {
		t.Fatalf("simple protocol arg: %d %v", n, err)
	}
	if err := db.QueryRowContext(ctx, `select count(*) from cpy where id = any($1)`, []int32{1, 2}).Scan(&n); err != nil || n != 2 {
		t.Fatalf("[]int32 arg: %d %v", n, err)
	}
	var ts pgtype.Timestamptz
	if err := db.QueryRowContext(ctx, `select $1::timestamptz`, pgtype.Timestamptz{Time: time.Unix(0, 0), Valid: true}).Scan(&ts); err != nil || !ts.Valid || !ts.Time.Equal(time.Unix(0, 0)) {
		t.Fatalf("pgtype arg: %v %v", ts, err)
	}
	var arr pgtype.FlatArray[int32]
	m := pgtype.NewMap()
	if err := db.QueryRowContext(ctx, `select tags from cpy where id = 1`).Scan(m.SQLScanner(&arr)); err != nil || len(arr) != 2 {
		t.Fatalf("array scan: %v %v", arr, err)
	}
}

func TestRowsShapes(t *testing.T) { forEachChain(t, testRowsShapes) }

func testRowsShapes(t *testing.T, ch chain) {
	db := openDB(t, ch.opts...)
	ctx := ctxT(t)
	// A wide row, NULLs and column types.
	cols := make([]string, 200)
	for i := range cols {
		if i%3 == 0 {
			cols[i] = fmt.Sprintf("NULL::int as c%d", i)
		} else {
			cols[i] = fmt.Sprintf("%d::int8 as c%d", i, i)
		}
	}
	rows, err := db.QueryContext(ctx, "select "+strings.Join(cols, ", "))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ct, err := rows.ColumnTypes()
	if err != nil || len(ct) != 200 {
		t.Fatal(err)
	}
	if st := ct[1].ScanType(); st != reflect.TypeFor[int64]() {
		t.Fatalf("ScanType %v", st)
	}
	if ct[1].DatabaseTypeName() != "INT8" {
		t.Fatalf("DatabaseTypeName %q", ct[1].DatabaseTypeName())
	}
	vals := make([]sql.NullInt64, 200)
	ptrs := make([]any, 200)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if !rows.Next() {
		t.Fatal("no row")
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	if vals[0].Valid || !vals[1].Valid || vals[199].Int64 != 199 {
		t.Fatalf("values %v %v %v", vals[0], vals[1], vals[199])
	}
	// Numeric precision and varchar length.
	r2, err := db.QueryContext(ctx, `select 1.5::numeric(10,2), 'x'::varchar(12)`)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	ct2, _ := r2.ColumnTypes()
	if p, s, ok := ct2[0].DecimalSize(); !ok || p != 10 || s != 2 {
		t.Fatalf("DecimalSize %d %d %v", p, s, ok)
	}
	if l, ok := ct2[1].Length(); !ok || l != 12 {
		t.Fatalf("Length %d %v", l, ok)
	}
}

func TestCancelMidQuery(t *testing.T) { forEachChain(t, testCancelMidQuery) }

func testCancelMidQuery(t *testing.T, ch chain) {
	db := openDB(t, ch.opts...)
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := db.ExecContext(ctx, `select pg_sleep(10)`)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
	// The connection is not reused broken: the next statement works.
	var n int
	if err := db.QueryRowContext(ctxT(t), `select 1`).Scan(&n); err != nil {
		t.Fatal(err)
	}
}

func TestOpenTxDiscardedOnReuse(t *testing.T) { forEachChain(t, testOpenTxDiscardedOnReuse) }

func testOpenTxDiscardedOnReuse(t *testing.T, ch chain) {
	db := openDB(t, ch.opts...)
	db.SetMaxOpenConns(1)
	ctx := ctxT(t)
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pid1 int
	mustExec(t, c, `begin`) // a transaction opened behind database/sql's back
	if err := c.QueryRowContext(ctx, `select pg_backend_pid()`).Scan(&pid1); err != nil {
		t.Fatal(err)
	}
	c.Close()
	var pid2 int
	var status string
	if err := db.QueryRowContext(ctx, `select pg_backend_pid(), current_setting('transaction_isolation')`).Scan(&pid2, &status); err != nil {
		t.Fatal(err)
	}
	if pid1 == pid2 {
		t.Fatal("connection with an open transaction was reused")
	}
}

func TestCloseLeavesNoBackend(t *testing.T) { forEachChain(t, testCloseLeavesNoBackend) }

func testCloseLeavesNoBackend(t *testing.T, ch chain) {
	node := pgtest.Shared(t).Primary()
	app := fmt.Sprintf("pgprovider-close-%d", time.Now().UnixNano())
	db, err := pgprovider.Open(node.DSN("application_name", app), ch.opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	db.SetMaxIdleConns(10)
	conns := make([]*sql.Conn, 5)
	for i := range conns {
		if conns[i], err = db.Conn(ctx); err != nil {
			t.Fatal(err)
		}
		mustExec(t, conns[i], `select 1`)
	}
	for _, c := range conns {
		c.Close()
	}
	count := func() int {
		var n int
		if err := node.QueryRow(ctx, `select count(*) from pg_stat_activity where application_name = $1`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 5 {
		t.Fatalf("want 5 backends before Close, got %d", n)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for count() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("backends left after Close: %d", count())
		}
		time.Sleep(20 * time.Millisecond) // the server notices the closed sockets asynchronously
	}
}

func TestBackendTerminatedWhileIdle(t *testing.T) { forEachChain(t, testBackendTerminatedWhileIdle) }

func testBackendTerminatedWhileIdle(t *testing.T, ch chain) {
	node := pgtest.Shared(t).Primary()
	app := fmt.Sprintf("pgprovider-term-%d", time.Now().UnixNano())
	db, err := pgprovider.Open(node.DSN("application_name", app), ch.opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := ctxT(t)
	mustExec(t, db, `select 1`)
	if n, err := node.TerminateBackends(ctx, fmt.Sprintf("application_name = '%s'", app)); err != nil || n != 1 {
		t.Fatalf("terminated %d %v", n, err)
	}
	// The liveness check at checkout sees the FATAL message and the closed socket:
	// database/sql moves to a new connection and the statement succeeds.
	var n int
	if err := db.QueryRowContext(ctx, `select 1`).Scan(&n); err != nil {
		t.Fatalf("statement after backend termination: %v", err)
	}
}

// TestStalePlanRepaired: a statement whose cached plan a DDL made stale (SQLSTATE 0A000
// "cached plan must not change result type") runs once more, described afresh, outside a
// transaction, for a statement pgx cached and one database/sql prepared; inside a
// transaction the error stands (the transaction is aborted).
func TestStalePlanRepaired(t *testing.T) { forEachChain(t, testStalePlanRepaired) }

func testStalePlanRepaired(t *testing.T, ch chain) {
	db := openDB(t, ch.opts...)
	db.SetMaxOpenConns(1) // one backend: its caches see the DDL
	ctx := ctxT(t)
	table := fmt.Sprintf("stale_%d", time.Now().UnixNano())
	mustExec(t, db, fmt.Sprintf(`create table %s (id int, a text)`, table))
	t.Cleanup(func() { _, _ = db.Exec(`drop table if exists ` + table) })
	mustExec(t, db, fmt.Sprintf(`insert into %s values (1, 'x')`, table))
	q := fmt.Sprintf(`select * from %s where id = $1`, table)
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	scan := func(rows *sql.Rows, err error) ([]string, error) {
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		return cols, rows.Err()
	}
	if _, err := scan(db.QueryContext(ctx, q, 1)); err != nil { // cached by pgx
		t.Fatal(err)
	}
	if _, err := scan(st.QueryContext(ctx, 1)); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, fmt.Sprintf(`alter table %s add column b int default 7`, table))
	for _, run := range []struct {
		name string
		do   func() ([]string, error)
	}{
		{"pgx cache", func() ([]string, error) { return scan(db.QueryContext(ctx, q, 1)) }},
		{"prepared", func() ([]string, error) { return scan(st.QueryContext(ctx, 1)) }},
		{"prepared again", func() ([]string, error) { return scan(st.QueryContext(ctx, 1)) }},
	} {
		cols, err := run.do()
		if err != nil || len(cols) != 3 {
			t.Fatalf("%s after ALTER TABLE: columns %v, err %v", run.name, cols, err)
		}
	}
	mustExec(t, db, fmt.Sprintf(`alter table %s add column c int`, table))
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := scan(tx.StmtContext(ctx, st).QueryContext(ctx, 1)); pgerror.Classify(err) != pgerror.StalePlan {
		t.Fatalf("stale plan inside a transaction: %v, want it reported (the transaction is aborted)", err)
	}
}
