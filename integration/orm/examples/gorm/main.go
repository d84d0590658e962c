// Command gorm shows GORM (gorm.io/gorm with gorm.io/driver/postgres) over pgprovider: a
// configured pgprovider *sql.DB (retry, schema per tenant) passed as postgres.Config{Conn: db},
// the tenant carried by db.WithContext, AutoMigrate per tenant, CRUD, db.Transaction, and
// TranslateError next to pgerror's classification. It creates two tenant schemas in
// DATABASE_URL, prints what happens, drops the schemas and exits.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/pgerror"
	"github.com/pgprovider/pgprovider/retry"
	"github.com/pgprovider/pgprovider/tenancy"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

func main() {
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		fmt.Fprintln(os.Stderr, "set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, dsn, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gorm:", err)
		os.Exit(1)
	}
}

// Product is the GORM model: its table lives in each tenant's schema.
type Product struct {
	ID    uint   `gorm:"primaryKey"`
	Code  string `gorm:"uniqueIndex"`
	Price int
}

var tenants = []string{"acme", "globex"}

func run(ctx context.Context, dsn string, out io.Writer) error {
	sqlDB, err := pgprovider.Open(dsn, pgprovider.WithMiddleware(
		retry.New(),
		tenancy.Schema(tenancy.WithPrefix("gormdemo_")),
	))
	if err != nil {
		return err
	}
	defer sqlDB.Close()
	// Conn: GORM uses the configured pool as it is. (postgres.Config{DriverName: "pgprovider",
	// DSN: dsn} works too, without middleware, since sql.Open only carries a DSN.)
	db, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), &gorm.Config{
		TranslateError: true,
		Logger:         logger.Discard,
	})
	if err != nil {
		return err
	}

	// Creating and dropping schemas is system work: an explicit exemption from tenancy.
	sys := db.WithContext(tenancy.System(ctx))
	for _, t := range tenants {
		if err := sys.Exec(fmt.Sprintf("DROP SCHEMA IF EXISTS gormdemo_%s CASCADE; CREATE SCHEMA gormdemo_%s", t, t)).Error; err != nil {
			return fmt.Errorf("setup (needs a role that may create schemas): %w", err)
		}
	}
	defer func() {
		for _, t := range tenants {
			db.WithContext(tenancy.System(context.Background())).Exec(fmt.Sprintf("DROP SCHEMA IF EXISTS gormdemo_%s CASCADE", t))
		}
	}()

	for i, t := range tenants {
		tdb := db.WithContext(tenancy.WithTenant(ctx, t)) // every call on tdb runs as tenant t
		if err := tdb.AutoMigrate(&Product{}); err != nil {
			return fmt.Errorf("%s: AutoMigrate: %w", t, err)
		}
		if err := tdb.Create(&[]Product{{Code: "P1", Price: 10 * (i + 1)}, {Code: "P2", Price: 20 * (i + 1)}}).Error; err != nil {
			return fmt.Errorf("%s: Create: %w", t, err)
		}
	}

	acme := db.WithContext(tenancy.WithTenant(ctx, "acme"))
	// Update and delete.
	if err := acme.Model(&Product{}).Where("code = ?", "P1").Update("price", 11).Error; err != nil {
		return err
	}
	if err := acme.Where("code = ?", "P2").Delete(&Product{}).Error; err != nil {
		return err
	}
	// A transaction: both rows or none. The tenant is fixed when it begins.
	err = acme.Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&Product{Code: "P3", Price: 30}).Error; err != nil {
			return err
		}
		return tx.Model(&Product{}).Where("code = ?", "P1").Update("price", gorm.Expr("price + 1")).Error
	})
	if err != nil {
		return err
	}
	for _, t := range tenants {
		var ps []Product
		if err := db.WithContext(tenancy.WithTenant(ctx, t)).Order("code").Find(&ps).Error; err != nil {
			return err
		}
		fmt.Fprintf(out, "tenant %s:", t)
		for _, p := range ps {
			fmt.Fprintf(out, " %s=%d", p.Code, p.Price)
		}
		fmt.Fprintln(out)
	}

	// A duplicate key. With TranslateError, GORM maps it to gorm.ErrDuplicatedKey (it finds the
	// *pgconn.PgError because pgprovider keeps server errors' type); pgerror classifies the
	// same error, with or without translation.
	err = acme.Create(&Product{Code: "P1"}).Error
	fmt.Fprintf(out, "duplicate: gorm.ErrDuplicatedKey=%v pgerror.UniqueViolation=%v constraint=%s\n",
		errors.Is(err, gorm.ErrDuplicatedKey), pgerror.Classify(err) == pgerror.UniqueViolation, pgerror.Constraint(err))
	if !errors.Is(err, gorm.ErrDuplicatedKey) {
		return fmt.Errorf("duplicate not translated: %v", err)
	}

	// No tenant in the context: an error, never a read of another schema.
	err = db.WithContext(ctx).Find(&[]Product{}).Error
	fmt.Fprintf(out, "no tenant: %v\n", err)
	if !errors.Is(err, tenancy.ErrNoTenant) {
		return fmt.Errorf("want tenancy.ErrNoTenant, got %v", err)
	}
	fmt.Fprintln(out, "gorm example done")
	return nil
}
