package tenancy_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/tenancy"
)

// Schema per tenant: each request's context names its tenant, and every statement runs with
// search_path set to the tenant's schema (then the shared ones, then pg_temp). A tenant's
// schema is looked up once (the answer is cached), and search_path is set only when the
// connection's differs. Here a stand-in server prints what it receives.
func ExampleSchema() {
	db, err := pgprovider.Open("postgres://app@db.internal/app",
		pgprovider.WithBackend(printServer{}), // only for this example: no server needed
		pgprovider.WithMiddleware(tenancy.Schema(tenancy.WithPrefix("tenant_"), tenancy.WithShared("shared"))))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	var n int
	for _, id := range []string{"acme", "globex", "acme"} {
		_ = db.QueryRowContext(tenancy.WithTenant(ctx, id), "SELECT count(*) FROM orders").Scan(&n)
	}

	err = db.QueryRowContext(ctx, "SELECT count(*) FROM orders").Scan(&n)
	fmt.Println("no tenant:", errors.Is(err, tenancy.ErrNoTenant))

	// Migrations and health checks run without a tenant, explicitly.
	_, _ = db.ExecContext(tenancy.System(ctx), "CREATE SCHEMA tenant_initech")
	// Output:
	// server sets search_path = '"tenant_acme", "shared", pg_temp'
	// server runs: SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1 [tenant_acme]
	// server runs: SELECT count(*) FROM orders []
	// server sets search_path = '"tenant_globex", "shared", pg_temp'
	// server runs: SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1 [tenant_globex]
	// server runs: SELECT count(*) FROM orders []
	// server sets search_path = '"tenant_acme", "shared", pg_temp'
	// server runs: SELECT count(*) FROM orders []
	// no tenant: true
	// server sets search_path = '"$user", "public", pg_temp'
	// server runs: CREATE SCHEMA tenant_initech []
}

// Row-level security: every statement runs with the setting the policies read equal to the
// tenant id; System contexts run with it empty, which a correct policy reads as no tenant.
func ExampleRLS() {
	db, err := pgprovider.Open("postgres://app@db.internal/app",
		pgprovider.WithBackend(printServer{}), // only for this example: no server needed
		pgprovider.WithMiddleware(tenancy.RLS("app.tenant_id")))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	_, _ = db.ExecContext(tenancy.WithTenant(ctx, "acme"), "UPDATE items SET seen = true")
	_, _ = db.ExecContext(tenancy.System(ctx), "DELETE FROM items WHERE expired")
	// Output:
	// server sets app.tenant_id = 'acme'
	// server runs: UPDATE items SET seen = true []
	// server sets app.tenant_id = ''
	// server runs: DELETE FROM items WHERE expired []
}

// Database per tenant: a resolver maps the tenant to its DSN; release the pool when done.
// It needs a server per tenant, so this example only compiles; with a database tenant_acme
// it prints 1.
func ExampleNewDatabases() {
	dbs := tenancy.NewDatabases(func(ctx context.Context, tenant string) (string, error) {
		return "postgres://app@db.internal/tenant_" + tenant, nil
	}, tenancy.WithMaxTenants(50), tenancy.WithConnsPerTenant(4), tenancy.WithConnBudget(100))
	defer dbs.Close()
	err := func(ctx context.Context) error {
		db, release, err := dbs.DB(ctx)
		if err != nil {
			return err // errors.Is(err, tenancy.ErrTenantNotFound) for a missing database
		}
		defer release()
		var one int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			return err
		}
		fmt.Println(one)
		return nil
	}(tenancy.WithTenant(context.Background(), "acme"))
	if err != nil {
		log.Fatal(err)
	}
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

// printServer stands in for PostgreSQL behind pgprovider.WithBackend: it prints what it
// receives, shows the settings the driver applies (with set_config) as "sets", and answers
// every query with one row holding 1.
type printServer struct{}

func (printServer) Connect(context.Context) (driver.Conn, error) { return printConn{}, nil }
func (printServer) Driver() driver.Driver                        { return nil }

type printConn struct{}

var errUnsupported = errors.New("not supported")

func (printConn) Prepare(string) (driver.Stmt, error) { return nil, errUnsupported }
func (printConn) Close() error                        { return nil }
func (printConn) Begin() (driver.Tx, error)           { return nil, errUnsupported }
func (printConn) PrepareContext(context.Context, string) (driver.Stmt, error) {
	return nil, errUnsupported
}
func (printConn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) {
	return nil, errUnsupported
}
func (printConn) QueryContext(_ context.Context, sql string, args []driver.NamedValue) (driver.Rows, error) {
	fmt.Println("server runs:", sql, values(args))
	return &oneRow{}, nil
}
func (printConn) ExecContext(_ context.Context, sql string, args []driver.NamedValue) (driver.Result, error) {
	if strings.HasPrefix(sql, "SELECT set_config(") {
		for i := 0; i+1 < len(args); i += 2 {
			fmt.Printf("server sets %v = '%v'\n", args[i].Value, args[i+1].Value)
		}
	} else {
		fmt.Println("server runs:", sql, values(args))
	}
	return driver.RowsAffected(1), nil
}

func values(args []driver.NamedValue) []any {
	out := []any{}
	for _, a := range args {
		out = append(out, a.Value)
	}
	return out
}

type oneRow struct{ done bool }

func (*oneRow) Columns() []string { return []string{"n"} }
func (*oneRow) Close() error      { return nil }
func (r *oneRow) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done, dest[0] = true, int64(1)
	return nil
}
