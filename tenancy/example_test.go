package tenancy_test

import (
	"context"
	"fmt"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/tenancy"
)

// Schema per tenant: each request's context names its tenant; the driver points search_path
// at the tenant's schema before the statement runs.
func ExampleSchema() {
	db, err := pgprovider.Open("postgres://app@localhost/app", pgprovider.WithMiddleware(
		tenancy.Schema(tenancy.WithPrefix("tenant_"), tenancy.WithShared("shared")),
	))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	ctx := tenancy.WithTenant(context.Background(), "acme")
	_ = db.QueryRowContext(ctx, "SELECT count(*) FROM orders") // tenant_acme.orders
	// Migrations and health checks run without a tenant, explicitly.
	_ = db.PingContext(tenancy.System(context.Background()))
}

// Row-level security: the setting the policies read is declared on every statement.
func ExampleRLS() {
	db, _ := pgprovider.Open("postgres://app@localhost/app", pgprovider.WithMiddleware(tenancy.RLS("app.tenant_id")))
	defer db.Close()
	_, _ = db.ExecContext(tenancy.WithTenant(context.Background(), "acme"), "UPDATE items SET seen = true")
}

// Database per tenant: a resolver maps the tenant to its DSN; release the pool when done.
func ExampleNewDatabases() {
	dbs := tenancy.NewDatabases(func(ctx context.Context, tenant string) (string, error) {
		return "postgres://app@localhost/tenant_" + tenant, nil
	}, tenancy.WithMaxTenants(50), tenancy.WithConnsPerTenant(4), tenancy.WithConnBudget(100))
	defer dbs.Close()
	err := func(ctx context.Context) error {
		db, release, err := dbs.DB(ctx)
		if err != nil {
			return err // errors.Is(err, tenancy.ErrTenantNotFound) for a missing database
		}
		defer release()
		return db.QueryRowContext(ctx, "SELECT 1").Scan(new(int))
	}(tenancy.WithTenant(context.Background(), "acme"))
	_ = err
}

// ValidateTenant rejects ids that could inject into search_path or collide after truncation.
func ExampleValidateTenant() {
	for _, id := range []string{"acme", "a, public", `x"; DROP SCHEMA a; --`, "pg_catalog", ""} {
		fmt.Printf("%q valid: %v\n", id, tenancy.ValidateTenant(id) == nil)
	}
	// Output:
	// "acme" valid: true
	// "a, public" valid: false
	// "x\"; DROP SCHEMA a; --" valid: false
	// "pg_catalog" valid: false
	// "" valid: false
}
