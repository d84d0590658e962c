package tenancy_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/tenancy"
)

// Case 1: many goroutines alternating tenants over a small pool never see another marker.
func TestSchemaAlternatingTenants(t *testing.T) {
	ids := tenants(t, "alt_", 2)
	db := open(t, "", tenancy.Schema(tenancy.WithPrefix("alt_")))
	db.SetMaxOpenConns(5)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for g := range 50 {
		wg.Go(func() {
			for i := range 40 {
				id := ids[(g+i)%2]
				got, err := marker(as(id), db)
				if err != nil || got != "alt_"+id {
					errs <- errors.Join(err, errors.New("tenant "+id+" read "+got))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Case 2: the first statement on a fresh connection is scoped.
func TestSchemaFreshConnection(t *testing.T) {
	ids := tenants(t, "fresh_", 2)
	db := open(t, "", tenancy.Schema(tenancy.WithPrefix("fresh_")))
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(0)
	for _, id := range []string{ids[0], ids[1], ids[0]} {
		if got, err := marker(as(id), db); err != nil || got != "fresh_"+id {
			t.Fatalf("tenant %s: got %q, %v", id, got, err)
		}
	}
}

// Case 3: after a tenant's statement, a context without a tenant never sees that tenant.
func TestSchemaNoTenant(t *testing.T) {
	ids := tenants(t, "nt_", 2)
	tests := []struct {
		name       string
		opts       []tenancy.Option
		ctx        context.Context
		wantErr    error
		wantSchema string
	}{
		{"no tenant", nil, context.Background(), tenancy.ErrNoTenant, ""},
		{"system", nil, tenancy.System(context.Background()), nil, "public"},
		{"system custom path", []tenancy.Option{tenancy.WithSystemSearchPath("nt_t1")}, tenancy.System(context.Background()), nil, "nt_t1"},
		{"default tenant", []tenancy.Option{tenancy.WithDefaultTenant(ids[1])}, context.Background(), nil, "nt_t1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := open(t, "", tenancy.Schema(append(tc.opts, tenancy.WithPrefix("nt_"))...))
			db.SetMaxOpenConns(1)
			if got, err := marker(as(ids[0]), db); err != nil || got != "nt_t0" {
				t.Fatalf("tenant: %q %v", got, err)
			}
			var schema sql.NullString
			err := db.QueryRowContext(tc.ctx, "SELECT current_schema()").Scan(&schema)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if schema.String != tc.wantSchema {
				t.Fatalf("schema = %q, want %q", schema.String, tc.wantSchema)
			}
		})
	}
}

// Case 5 and 6: a rollback, a user SET and a failed multi-statement leave no residue.
func TestSchemaRollbackAndUserSet(t *testing.T) {
	ids := tenants(t, "rb_", 2)
	db := open(t, "", tenancy.Schema(tenancy.WithPrefix("rb_")))
	ctx := ctxT(t)
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	check := func(id string) {
		t.Helper()
		if got, err := marker(as(id), c); err != nil || got != "rb_"+id {
			t.Fatalf("tenant %s: got %q, %v", id, got, err)
		}
	}
	check(ids[0])
	tx, err := c.BeginTx(as(ids[1]), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(as(ids[1]), "SET search_path TO rb_t0"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	check(ids[0])
	check(ids[1])
	// A user SET outside a transaction: re-applied on the next statement.
	if _, err := c.ExecContext(as(ids[1]), "SET search_path TO rb_t0"); err != nil {
		t.Fatal(err)
	}
	check(ids[1])
	// A failed multi-statement (one implicit transaction) that changed search_path.
	_, err = c.ExecContext(as(ids[0]), "SELECT set_config('search_path', 'rb_t1', false); SELECT 1/0")
	if err == nil {
		t.Fatal("division by zero succeeded")
	}
	check(ids[0])
	check(ids[1])
	// Case 13: DISCARD ALL / RESET ALL by the user.
	for _, s := range []string{"DISCARD ALL", "RESET ALL"} {
		if _, err := c.ExecContext(as(ids[0]), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		check(ids[1])
		check(ids[0])
	}
}

// Case 7 and 8: a prepared statement and a pinned sql.Conn follow each call's tenant.
func TestSchemaPreparedAndConn(t *testing.T) {
	ids := tenants(t, "ps_", 3)
	db := open(t, "", tenancy.Schema(tenancy.WithPrefix("ps_")))
	db.SetMaxOpenConns(2)
	st, err := db.PrepareContext(as(ids[0]), markerSQL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 9 {
		id := ids[i%3]
		var s, m string
		if err := st.QueryRowContext(as(id)).Scan(&s, &m); err != nil || m != "ps_"+id {
			t.Fatalf("stmt as %s: %q %v", id, m, err)
		}
	}
	c, err := db.Conn(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 9 {
		id := ids[i%3]
		if got, err := marker(as(id), c); err != nil || got != "ps_"+id {
			t.Fatalf("conn as %s: %q %v", id, got, err)
		}
	}
	if _, err := db.PrepareContext(context.Background(), markerSQL); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Fatalf("prepare without tenant: %v", err)
	}
}

// Case 9: ids that could inject or collide are rejected before any SQL is sent.
func TestSchemaInvalidTenants(t *testing.T) {
	tenants(t, "inj_", 1)
	long := strings.Repeat("x", 60)
	db := open(t, "", tenancy.Schema(tenancy.WithPrefix("inj_")))
	for _, id := range []string{
		`x"; DROP SCHEMA inj_t0 CASCADE; --`, "a, public", "pg_catalog", "$user", `""`, "", "a\x00b",
		"ümlaut", "t0 ", "t0,public", long, // 60 bytes + 4-byte prefix = 64 > 63
		strings.Repeat("y", 100),
	} {
		_, err := marker(as(id), db)
		if !errors.Is(err, tenancy.ErrInvalidTenant) {
			t.Errorf("tenant %q: err = %v, want ErrInvalidTenant", id, err)
		}
	}
	if got, err := marker(as("t0"), db); err != nil || got != "inj_t0" {
		t.Fatalf("t0 after injection attempts: %q %v", got, err)
	}
	// Without a prefix, reserved schema names are refused even if the id passes the charset.
	db2 := open(t, "", tenancy.Schema())
	for _, id := range []string{"public", "pg_toast", "PG_x", "information_schema"} {
		if _, err := marker(as(id), db2); !errors.Is(err, tenancy.ErrInvalidTenant) {
			t.Errorf("tenant %q: err = %v, want ErrInvalidTenant", id, err)
		}
	}
}

// Case 10: a tenant without a schema is a typed error, never public's table.
func TestSchemaUnknownTenant(t *testing.T) {
	admin(t, "CREATE TABLE IF NOT EXISTS public.t(marker text)", "TRUNCATE public.t", "INSERT INTO public.t VALUES ('public')")
	t.Cleanup(func() { admin(t, "DROP TABLE IF EXISTS public.t") })
	db := open(t, "", tenancy.Schema(tenancy.WithPrefix("unk_")))
	db.SetMaxOpenConns(1)
	for _, f := range []func() error{
		func() error { _, err := marker(as("nope"), db); return err },
		func() error { _, err := db.ExecContext(as("nope"), "SELECT 1"); return err },
	} {
		if err := f(); !errors.Is(err, tenancy.ErrTenantNotFound) {
			t.Fatalf("err = %v, want ErrTenantNotFound", err)
		}
	}
	// Created later: works at once (misses are not cached).
	ids := tenants(t, "unk_", 1)
	if got, err := marker(as(ids[0]), db); err != nil || got != "unk_t0" {
		t.Fatalf("after create: %q %v", got, err)
	}
	// Dropped later: the 42P01 invalidates the cached existence, the next call is typed.
	admin(t, "DROP SCHEMA unk_t0 CASCADE")
	if _, err := marker(as(ids[0]), db); err == nil {
		t.Fatal("dropped schema still answers")
	}
	if _, err := marker(as(ids[0]), db); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Fatalf("after drop: %v, want ErrTenantNotFound", err)
	}
}

// Case 11: a temporary table never shadows a tenant's table (pg_temp is searched last).
func TestSchemaTempTable(t *testing.T) {
	ids := tenants(t, "tmp_", 2)
	db := open(t, "", tenancy.Schema(tenancy.WithPrefix("tmp_")))
	db.SetMaxOpenConns(1)
	ctx := ctxT(t)
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(as(ids[0]), "CREATE TEMP TABLE t(marker text); INSERT INTO pg_temp.t VALUES ('temp')"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{ids[1], ids[0]} {
		if got, err := marker(as(id), c); err != nil || got != "tmp_"+id {
			t.Fatalf("tenant %s: %q %v", id, got, err)
		}
	}
	var m string
	if err := c.QueryRowContext(as(ids[0]), "SELECT marker FROM pg_temp.t").Scan(&m); err != nil || m != "temp" {
		t.Fatalf("pg_temp.t: %q %v", m, err)
	}
}

// Case 12: tenants whose tables differ in shape, alternating on one connection, through
// plain queries and a prepared statement: 0A000 never reaches the caller.
func TestSchemaDivergentShapes(t *testing.T) {
	admin(t, `DROP SCHEMA IF EXISTS shp_a CASCADE; DROP SCHEMA IF EXISTS shp_b CASCADE;
		CREATE SCHEMA shp_a; CREATE TABLE shp_a.s(v text); INSERT INTO shp_a.s VALUES ('a');
		CREATE SCHEMA shp_b; CREATE TABLE shp_b.s(v int, w int); INSERT INTO shp_b.s VALUES (2, 3);`)
	t.Cleanup(func() { admin(t, "DROP SCHEMA shp_a CASCADE; DROP SCHEMA shp_b CASCADE") })
	db := open(t, "", tenancy.Schema(tenancy.WithPrefix("shp_")))
	db.SetMaxOpenConns(1)
	st, err := db.PrepareContext(as("a"), "SELECT * FROM s")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	want := map[string]string{"a": "[a]", "b": "[2 3]"}
	for i := range 6 {
		id := []string{"a", "b"}[i%2]
		for name, q := range map[string]func() (*sql.Rows, error){
			"query": func() (*sql.Rows, error) { return db.QueryContext(as(id), "SELECT * FROM s") },
			"stmt":  func() (*sql.Rows, error) { return st.QueryContext(as(id)) },
		} {
			rows, err := q()
			if err != nil {
				t.Fatalf("%s as %s: %v", name, id, err)
			}
			got := scanAll(t, rows)
			if got != want[id] {
				t.Fatalf("%s as %s: %s, want %s", name, id, got, want[id])
			}
		}
		if _, err := db.ExecContext(as(id), "SELECT * FROM s"); err != nil {
			t.Fatalf("exec as %s: %v", id, err)
		}
	}
}

func scanAll(t *testing.T, rows *sql.Rows) string {
	t.Helper()
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			out = append(out, v)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return fmtAny(out)
}

// Case 14: the tenant is fixed at BeginTx.
func TestSchemaTransactions(t *testing.T) {
	ids := tenants(t, "tx_", 2)
	db := open(t, "", tenancy.Schema(tenancy.WithPrefix("tx_")))
	db.SetMaxOpenConns(2)
	tx, err := db.BeginTx(as(ids[0]), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	tests := []struct {
		name    string
		ctx     context.Context
		want    string
		wantErr error
	}{
		{"same tenant", as(ids[0]), "tx_t0", nil},
		{"no tenant in ctx", context.Background(), "tx_t0", nil},
		{"other tenant", as(ids[1]), "", tenancy.ErrTenantMismatch},
		{"system", tenancy.System(context.Background()), "", tenancy.ErrTenantMismatch},
	}
	for _, tc := range tests {
		got, err := marker(tc.ctx, tx)
		if !errors.Is(err, tc.wantErr) || got != tc.want {
			t.Errorf("%s: %q %v, want %q %v", tc.name, got, err, tc.want, tc.wantErr)
		}
		if err != nil { // the failed check sent nothing: the transaction is still usable
			if got, err := marker(as(ids[0]), tx); err != nil || got != "tx_t0" {
				t.Fatalf("%s: tx after mismatch: %q %v", tc.name, got, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.BeginTx(context.Background(), nil); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Fatalf("BeginTx without tenant: %v", err)
	}
}

// Raw access (CopyFrom, Batch) runs under the context's tenant.
func TestSchemaRaw(t *testing.T) {
	ids := tenants(t, "raw_", 2)
	db := open(t, "", tenancy.Schema(tenancy.WithPrefix("raw_")))
	c, err := db.Conn(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, id := range []string{ids[0], ids[1], ids[0]} {
		var m string
		err := pgprovider.Raw(as(id), c, func(ctx context.Context, pc *pgx.Conn) error {
			return pc.QueryRow(ctx, "SELECT marker FROM t").Scan(&m)
		})
		if err != nil || m != "raw_"+id {
			t.Fatalf("raw as %s: %q %v", id, m, err)
		}
	}
}
