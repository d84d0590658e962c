package orm

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/retry"
	"github.com/pgprovider/pgprovider/tenancy"
)

type item struct {
	ID   int    `db:"id"`
	Name string `db:"name"`
	Qty  int    `db:"qty"`
}

// TestSqlxOpen: sqlx.Open with the registered driver name binds $N and runs Get, Select,
// NamedExec and In with Rebind (no middleware: a DSN is all sql.Open can carry).
func TestSqlxOpen(t *testing.T) {
	ctx := ctxT(t, 30*time.Second)
	schemas(t, "sqlxopen_", "s")
	db, err := sqlx.Open("pgprovider", pgtest.Shared(t).Primary().DSN("search_path", "sqlxopen_s"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := sqlx.BindType(db.DriverName()); got != sqlx.DOLLAR {
		t.Fatalf("BindType = %d, want DOLLAR (%d)", got, sqlx.DOLLAR)
	}
	if got := db.Rebind("a = ? AND b = ?"); got != "a = $1 AND b = $2" {
		t.Fatalf("Rebind = %q", got)
	}
	db.MustExecContext(ctx, "CREATE TABLE items (id serial PRIMARY KEY, name text UNIQUE, qty int)")
	rows := []item{{Name: "anvil", Qty: 1}, {Name: "rope", Qty: 2}, {Name: "magnet", Qty: 3}}
	if _, err := db.NamedExecContext(ctx, "INSERT INTO items (name, qty) VALUES (:name, :qty)", rows); err != nil {
		t.Fatal(err)
	}
	var one item
	if err := db.GetContext(ctx, &one, "SELECT * FROM items WHERE name = $1", "rope"); err != nil || one.Qty != 2 {
		t.Fatalf("Get = %+v, %v", one, err)
	}
	q, args, err := sqlx.In("SELECT name FROM items WHERE qty IN (?) AND name <> ? ORDER BY name", []int{1, 3}, "x")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := db.SelectContext(ctx, &names, db.Rebind(q), args...); err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 || names[0] != "anvil" || names[1] != "magnet" {
		t.Fatalf("In/Rebind selected %v", names)
	}
}

// TestSqlxTenancy: sqlx.NewDb over a pgprovider *sql.DB with retry and schema-per-tenant
// middleware: each tenant reads and writes its own schema through Get, Select, NamedExec,
// In with Rebind and transactions; the tenancy errors reach sqlx's caller unchanged; a
// retryable error is retried under the tenant.
func TestSqlxTenancy(t *testing.T) {
	ctx := ctxT(t, 30*time.Second)
	schemas(t, "sqlxt_", "a", "b")
	var rt retries
	db := sqlx.NewDb(openTenantDB(t, pgtest.Shared(t).Primary().DSN(), "sqlxt_", &rt), "pgprovider")
	data := map[string][]item{
		"a": {{Name: "anvil", Qty: 1}, {Name: "rope", Qty: 2}},
		"b": {{Name: "magnet", Qty: 5}, {Name: "rocket", Qty: 6}, {Name: "glue", Qty: 7}},
	}
	for id, rows := range data {
		tctx := tenancy.WithTenant(ctx, id)
		db.MustExecContext(tctx, "CREATE TABLE items (id serial PRIMARY KEY, name text UNIQUE, qty int)")
		if _, err := db.NamedExecContext(tctx, "INSERT INTO items (name, qty) VALUES (:name, :qty)", rows); err != nil {
			t.Fatalf("tenant %s: NamedExec: %v", id, err)
		}
	}
	for id, rows := range data {
		t.Run("tenant_"+id, func(t *testing.T) {
			tctx := tenancy.WithTenant(ctx, id)
			var got []item
			if err := db.SelectContext(tctx, &got, "SELECT * FROM items ORDER BY id"); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(rows) {
				t.Fatalf("Select: %d rows, want %d: %+v", len(got), len(rows), got)
			}
			for i := range rows {
				if got[i].Name != rows[i].Name || got[i].Qty != rows[i].Qty {
					t.Fatalf("row %d = %+v, want %+v", i, got[i], rows[i])
				}
			}
			var sum int
			if err := db.GetContext(tctx, &sum, "SELECT sum(qty) FROM items WHERE qty >= $1", 0); err != nil {
				t.Fatal(err)
			}
			want := 0
			var all []string
			for _, r := range rows {
				want += r.Qty
				all = append(all, r.Name)
			}
			if sum != want {
				t.Fatalf("Get sum = %d, want %d", sum, want)
			}
			// In with every name of both tenants: only this tenant's rows exist here.
			q, args, err := sqlx.In("SELECT name FROM items WHERE name IN (?) ORDER BY name",
				[]string{"anvil", "rope", "magnet", "rocket", "glue"})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			if err := db.SelectContext(tctx, &names, db.Rebind(q), args...); err != nil {
				t.Fatal(err)
			}
			sort.Strings(all)
			if strings.Join(names, ",") != strings.Join(all, ",") {
				t.Fatalf("In/Rebind: %v, want %v", names, all)
			}
		})
	}

	t.Run("transaction", func(t *testing.T) {
		actx := tenancy.WithTenant(ctx, "a")
		tx, err := db.BeginTxx(actx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.NamedExecContext(actx, "INSERT INTO items (name, qty) VALUES (:name, :qty)", item{Name: "hammer", Qty: 9}); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := tx.GetContext(ctx, &n, "SELECT count(*) FROM items"); err != nil || n != 3 {
			t.Fatalf("in tx (no tenant in ctx runs as the tx's tenant): count = %d, %v", n, err)
		}
		if err := tx.GetContext(tenancy.WithTenant(ctx, "b"), &n, "SELECT count(*) FROM items"); !errors.Is(err, tenancy.ErrTenantMismatch) {
			t.Fatalf("other tenant in tx: %v, want ErrTenantMismatch", err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if err := db.GetContext(actx, &n, "SELECT count(*) FROM items"); err != nil || n != 2 {
			t.Fatalf("after rollback: count = %d, %v", n, err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		var n int
		tests := []struct {
			name string
			err  error
			want error
		}{
			{"no tenant", db.GetContext(ctx, &n, "SELECT count(*) FROM items"), tenancy.ErrNoTenant},
			{"unknown tenant", db.GetContext(tenancy.WithTenant(ctx, "nobody"), &n, "SELECT 1"), tenancy.ErrTenantNotFound},
			{"invalid tenant", db.GetContext(tenancy.WithTenant(ctx, "a; DROP"), &n, "SELECT 1"), tenancy.ErrInvalidTenant},
		}
		for _, tc := range tests {
			if !errors.Is(tc.err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
			}
		}
	})

	t.Run("retry", func(t *testing.T) {
		// flaky() fails with 40001 (serialization_failure) on its first call only: the
		// sequence survives the failed statement. The retry middleware runs it again.
		actx := tenancy.WithTenant(ctx, "a")
		db.MustExecContext(actx, `CREATE SEQUENCE flaky_seq;
CREATE FUNCTION flaky() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('flaky_seq') = 1 THEN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END IF;
  RETURN 42;
END $$`)
		before := rt.n.Load()
		var v int
		if err := db.GetContext(actx, &v, "SELECT flaky()"); err != nil || v != 42 {
			t.Fatalf("Get flaky() = %d, %v", v, err)
		}
		if got := rt.n.Load() - before; got != 1 {
			t.Fatalf("%d failed attempts reported, want 1", got)
		}
		// A killed backend: the next idempotent read reaches a fresh one.
		if _, err := pgtest.Shared(t).Primary().TerminateBackends(ctx, ""); err != nil {
			t.Fatal(err)
		}
		var names []string
		if err := db.SelectContext(retry.Idempotent(actx), &names, "SELECT name FROM items ORDER BY name"); err != nil || len(names) != 2 {
			t.Fatalf("after terminate: %v, %v", names, err)
		}
	})
}
