// Command sqlx shows github.com/jmoiron/sqlx over pgprovider: the driver name registered with
// sqlx's bind types, sqlx.Open for plain use, sqlx.NewDb over a pgprovider *sql.DB that has
// retry and schema-per-tenant middleware, and Get, Select, NamedExec, In with Rebind and a
// transaction. It creates two tenant schemas in DATABASE_URL, prints what each tenant sees,
// drops the schemas and exits.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/retry"
	"github.com/pgprovider/pgprovider/tenancy"
)

// Register pgprovider's bind variables ($1, $2, ...) with sqlx once, before the first
// sqlx.Open("pgprovider", ...) or sqlx.NewDb(db, "pgprovider"): without it sqlx treats the
// name as unknown and leaves '?' in Rebind, In and named queries. init (or the top of main)
// is the place; BindDriver is safe for concurrent use.
func init() { sqlx.BindDriver("pgprovider", sqlx.DOLLAR) }

func main() {
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		fmt.Fprintln(os.Stderr, "set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, dsn, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sqlx:", err)
		os.Exit(1)
	}
}

// Item is a row of the tenants' items table.
type Item struct {
	ID   int    `db:"id"`
	Name string `db:"name"`
	Qty  int    `db:"qty"`
}

const (
	setupSQL = `
DROP SCHEMA IF EXISTS sqlxdemo_acme CASCADE; DROP SCHEMA IF EXISTS sqlxdemo_globex CASCADE;
CREATE SCHEMA sqlxdemo_acme;   CREATE TABLE sqlxdemo_acme.items   (id serial PRIMARY KEY, name text UNIQUE, qty int);
CREATE SCHEMA sqlxdemo_globex; CREATE TABLE sqlxdemo_globex.items (id serial PRIMARY KEY, name text UNIQUE, qty int);`
	teardownSQL = `DROP SCHEMA IF EXISTS sqlxdemo_acme CASCADE; DROP SCHEMA IF EXISTS sqlxdemo_globex CASCADE`
)

func run(ctx context.Context, dsn string, out io.Writer) error {
	// Plain sqlx.Open: a DSN is all sql.Open can carry, so no middleware. Good for admin work.
	admin, err := sqlx.Open("pgprovider", dsn)
	if err != nil {
		return err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, setupSQL); err != nil {
		return fmt.Errorf("setup (needs a role that may create schemas): %w", err)
	}
	defer admin.ExecContext(context.Background(), teardownSQL)

	// sqlx.NewDb over a configured pgprovider pool: retry, then schema per tenant.
	sqlDB, err := pgprovider.Open(dsn, pgprovider.WithMiddleware(
		retry.New(),
		tenancy.Schema(tenancy.WithPrefix("sqlxdemo_")),
	))
	if err != nil {
		return err
	}
	db := sqlx.NewDb(sqlDB, "pgprovider")
	defer db.Close()

	stock := map[string][]Item{
		"acme":   {{Name: "anvil", Qty: 3}, {Name: "rocket skates", Qty: 1}},
		"globex": {{Name: "doomsday device", Qty: 1}},
	}
	for _, tenant := range []string{"acme", "globex"} {
		tctx := tenancy.WithTenant(ctx, tenant)
		// NamedExec with a slice: one multi-row INSERT, :name and :qty bound as $N.
		if _, err := db.NamedExecContext(tctx, `INSERT INTO items (name, qty) VALUES (:name, :qty)`, stock[tenant]); err != nil {
			return fmt.Errorf("%s: NamedExec: %w", tenant, err)
		}
	}

	for _, tenant := range []string{"acme", "globex"} {
		tctx := tenancy.WithTenant(ctx, tenant)
		var items []Item
		if err := db.SelectContext(tctx, &items, `SELECT id, name, qty FROM items ORDER BY id`); err != nil {
			return fmt.Errorf("%s: Select: %w", tenant, err)
		}
		var total int
		if err := db.GetContext(tctx, &total, `SELECT coalesce(sum(qty), 0) FROM items WHERE qty > $1`, 0); err != nil {
			return fmt.Errorf("%s: Get: %w", tenant, err)
		}
		// In expands the slice into (?, ?, ?); Rebind turns the '?' into $1, $2, $3.
		q, args, err := sqlx.In(`SELECT name FROM items WHERE name IN (?) ORDER BY name`,
			[]string{"anvil", "doomsday device", "rocket skates"})
		if err != nil {
			return err
		}
		var names []string
		if err := db.SelectContext(tctx, &names, db.Rebind(q), args...); err != nil {
			return fmt.Errorf("%s: In: %w", tenant, err)
		}
		fmt.Fprintf(out, "tenant %s: %d items, total qty %d, In matched %q\n", tenant, len(items), total, names)
	}

	// A transaction is fixed to the tenant of BeginTxx's context.
	actx := tenancy.WithTenant(ctx, "acme")
	tx, err := db.BeginTxx(actx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.NamedExecContext(actx, `UPDATE items SET qty = qty - 1 WHERE name = :name`, Item{Name: "anvil"}); err != nil {
		return err
	}
	var left int
	if err := tx.GetContext(actx, &left, `SELECT qty FROM items WHERE name = $1`, "anvil"); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(out, "tenant acme: sold an anvil in a transaction, %d left\n", left)

	// No tenant is an error, not a read of some default schema.
	var n int
	err = db.GetContext(ctx, &n, `SELECT count(*) FROM items`)
	fmt.Fprintf(out, "no tenant: %v\n", err)
	if err == nil {
		return fmt.Errorf("a statement without a tenant succeeded")
	}
	fmt.Fprintln(out, "sqlx example done")
	return nil
}
