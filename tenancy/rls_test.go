package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/tenancy"
)

const rlsPolicy = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')"

// rlsSetup creates role rls_app (not a superuser) owning table <table>(tenant_id, marker)
// with one row per tenant t<i>, ROW LEVEL SECURITY enabled and forced, and returns a DSN
// that logs in as the owner: FORCE is what makes the policy apply to it.
func rlsSetup(t testing.TB, table string, n int) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rls_app') THEN CREATE ROLE rls_app LOGIN; END IF; END$$;
		GRANT USAGE, CREATE ON SCHEMA public TO rls_app;
		DROP TABLE IF EXISTS %[1]s; CREATE TABLE %[1]s(tenant_id text, marker text); ALTER TABLE %[1]s OWNER TO rls_app;
		ALTER TABLE %[1]s ENABLE ROW LEVEL SECURITY; ALTER TABLE %[1]s FORCE ROW LEVEL SECURITY;
		CREATE POLICY isolation ON %[1]s USING (%[2]s) WITH CHECK (%[2]s);`, table, rlsPolicy)
	for i := range n {
		fmt.Fprintf(&b, "INSERT INTO %s VALUES ('t%d', 'm%d');", table, i, i)
	}
	admin(t, b.String())
	t.Cleanup(func() { _ = pgtest.Shared(t).Primary().Exec(context.Background(), "DROP TABLE IF EXISTS "+table) })
	return pgtest.Shared(t).Primary().DSN("user", "rls_app")
}

func rlsMarkers(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sqlRow
}, table string) (string, error) {
	var m string
	err := q.QueryRowContext(ctx, "SELECT coalesce(string_agg(marker, ',' ORDER BY marker), '') FROM "+table).Scan(&m)
	return m, err
}

// Case 16: each tenant sees its rows only; system and an unset setting see none.
func TestRLSIsolation(t *testing.T) {
	dsn := rlsSetup(t, "rls_items", 3)
	db := open(t, dsn, tenancy.RLS("app.tenant_id"))
	db.SetMaxOpenConns(1)
	tests := []struct {
		name    string
		ctx     context.Context
		want    string
		wantErr error
	}{
		{"t0", as("t0"), "m0", nil},
		{"t1", as("t1"), "m1", nil},
		{"system after t1", tenancy.System(context.Background()), "", nil},
		{"t2", as("t2"), "m2", nil},
		{"no tenant", context.Background(), "", tenancy.ErrNoTenant},
		{"invalid", as("t0' OR true --"), "", tenancy.ErrInvalidTenant},
		{"unknown tenant sees nothing", as("t9"), "", nil},
		{"t0 again", as("t0"), "m0", nil},
	}
	for _, tc := range tests {
		got, err := rlsMarkers(tc.ctx, db, "rls_items")
		if !errors.Is(err, tc.wantErr) || got != tc.want {
			t.Errorf("%s: %q %v, want %q %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
	// Writes are checked too: a tenant cannot insert another tenant's row.
	if _, err := db.ExecContext(as("t0"), "INSERT INTO rls_items VALUES ('t1', 'forged')"); err == nil {
		t.Fatal("t0 inserted a row for t1")
	}
	// Transactions: the setting is fixed at BeginTx and a rollback leaves nothing behind.
	tx, err := db.BeginTx(as("t1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rlsMarkers(context.Background(), tx, "rls_items"); err != nil || got != "m1" {
		t.Fatalf("tx: %q %v", got, err)
	}
	if _, err := rlsMarkers(as("t0"), tx, "rls_items"); !errors.Is(err, tenancy.ErrTenantMismatch) {
		t.Fatalf("tx other tenant: %v", err)
	}
	_ = tx.Rollback()
	if got, err := rlsMarkers(as("t0"), db, "rls_items"); err != nil || got != "m0" {
		t.Fatalf("after rollback: %q %v", got, err)
	}
}

// The unset setting reads as NULL on a fresh backend and as ” once it was set in any way
// (here transaction-locally), which is why policies need NULLIF(..., ”). And without FORCE
// ROW LEVEL SECURITY the table owner bypasses the policy.
func TestRLSSettingSemanticsAndForce(t *testing.T) {
	dsn := rlsSetup(t, "rls_force", 2)
	ctx := ctxT(t)
	pc, err := pgtest.Shared(t).Primary().Connect(ctx, "user", "rls_app")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	var isNull bool
	var v string
	if err := pc.QueryRow(ctx, "SELECT current_setting('app.tenant_id', true) IS NULL").Scan(&isNull); err != nil || !isNull {
		t.Fatalf("fresh backend: IS NULL = %v, %v", isNull, err)
	}
	if _, err := pc.Exec(ctx, "BEGIN; SELECT set_config('app.tenant_id', 't0', true); COMMIT"); err != nil {
		t.Fatal(err)
	}
	if err := pc.QueryRow(ctx, "SELECT current_setting('app.tenant_id', true)").Scan(&v); err != nil || v != "" {
		t.Fatalf("after a tx-local set: %q, %v", v, err)
	}
	// NULL and '' both give no rows under the NULLIF policy.
	var n int
	if err := pc.QueryRow(ctx, "SELECT count(*) FROM rls_force").Scan(&n); err != nil || n != 0 {
		t.Fatalf("'' setting sees %d rows, %v", n, err)
	}
	// Without FORCE the owner (the role the application logs in as) sees every row.
	admin(t, "ALTER TABLE rls_force NO FORCE ROW LEVEL SECURITY")
	db := open(t, dsn, tenancy.RLS("app.tenant_id"))
	if got, err := rlsMarkers(as("t0"), db, "rls_force"); err != nil || got != "m0,m1" {
		t.Fatalf("owner without FORCE: %q %v (want every row: the documented pitfall)", got, err)
	}
	admin(t, "ALTER TABLE rls_force FORCE ROW LEVEL SECURITY")
	if got, err := rlsMarkers(as("t0"), db, "rls_force"); err != nil || got != "m0" {
		t.Fatalf("owner with FORCE: %q %v", got, err)
	}
}

func TestRLSSettingName(t *testing.T) {
	for _, s := range []string{"", "tenant", "search_path", "app.", ".x", "a.b.c", "app.tenant id", "app.x;drop"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RLS(%q) did not panic", s)
				}
			}()
			tenancy.RLS(s)
		}()
	}
	tenancy.RLS("app.tenant_id")
}
