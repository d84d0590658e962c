package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/tenancy"
)

// stepTenants serves two tenants, each with a schema of its own, through a pool of one
// connection: every statement declares its tenant's search_path and the driver makes the
// backend match before the statement runs, whatever the previous request left on it.
func stepTenants(ctx context.Context, e *env) error {
	db, err := pgprovider.Open(e.primaryDSN, pgprovider.WithMiddleware(newLogger(e.out),
		tenancy.Schema(tenancy.WithPrefix(demoSchema+"_")))) // tenant acme: schema pgprovider_demo_acme
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one backend serves every tenant in turn
	want := map[string]string{"acme": "anvil, rocket skates", "globex": "doomsday device"}
	for i, tenant := range []string{"acme", "globex", "acme", "globex", "acme"} {
		tctx := tenancy.WithTenant(ctx, tenant)
		if i == 3 {
			if _, err := db.ExecContext(tctx, "SET search_path TO "+demoSchema+"_acme"); err != nil {
				return err
			}
			fmt.Fprintln(e.out, "globex's request ran its own SET search_path to acme's schema; the next statements:")
		}
		var pid int
		var items string
		if err := db.QueryRowContext(tctx, "SELECT pg_backend_pid(), string_agg(item, ', ' ORDER BY item) FROM orders").
			Scan(&pid, &items); err != nil {
			return err
		}
		if items != want[tenant] {
			return fmt.Errorf("tenant %s read orders %q, want %q", tenant, items, want[tenant])
		}
		fmt.Fprintf(e.out, "tenant %-6s on backend pid %d: orders = %s\n", tenant, pid, items)
	}

	// Without a tenant nothing is sent; an unknown tenant is not a fall-through to public.
	if _, err := db.ExecContext(ctx, "DELETE FROM orders"); !errors.Is(err, tenancy.ErrNoTenant) {
		return fmt.Errorf("want tenancy.ErrNoTenant, got %v", err)
	}
	fmt.Fprintln(e.out, "DELETE without a tenant in the context: tenancy.ErrNoTenant, refused before anything was sent")
	_, err = db.ExecContext(tenancy.WithTenant(ctx, "initech"), "DELETE FROM orders")
	if !errors.Is(err, tenancy.ErrTenantNotFound) {
		return fmt.Errorf("want tenancy.ErrTenantNotFound, got %v", err)
	}
	fmt.Fprintf(e.out, "DELETE as tenant initech, which has no schema: %v\n", err)
	return nil
}
