package orm

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
	"github.com/pgprovider/pgprovider/tenancy"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// product is the GORM model of the tests.
type product struct {
	ID        uint   `gorm:"primaryKey"`
	Code      string `gorm:"uniqueIndex"`
	Price     int
	CreatedAt time.Time
}

// execModeSpy is a middleware that records whether a statement carried a pgx.QueryExecMode
// argument (GORM's migrator adds pgx.QueryExecModeSimpleProtocol when it believes it talks
// to pgx stdlib).
type execModeSpy struct{ seen atomic.Int64 }

func (s *execModeSpy) middleware() middleware.Middleware {
	check := func(st middleware.Statement) {
		for _, a := range st.Args {
			if _, ok := a.Value.(pgx.QueryExecMode); ok {
				s.seen.Add(1)
			}
		}
	}
	return middleware.Wrappers{
		Query: func(next middleware.QueryFunc) middleware.QueryFunc {
			return func(ctx context.Context, st middleware.Statement) (driver.Rows, error) {
				check(st)
				return next(ctx, st)
			}
		},
		Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
			return func(ctx context.Context, st middleware.Statement) (driver.Result, error) {
				check(st)
				return next(ctx, st)
			}
		},
	}
}

func openGorm(t *testing.T, d gorm.Dialector, translate bool) *gorm.DB {
	t.Helper()
	g, err := gorm.Open(d, &gorm.Config{TranslateError: translate, Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// closeOwnPool closes the *sql.DB GORM opened itself (DSN setups); a pool passed as Conn
// belongs to the test.
func closeOwnPool(t *testing.T, g *gorm.DB) {
	t.Cleanup(func() {
		if db, err := g.DB(); err == nil {
			db.Close()
		}
	})
}

// TestGormSetups runs AutoMigrate, CRUD, transactions and error translation through the
// three ways of plugging pgprovider into gorm.io/driver/postgres.
func TestGormSetups(t *testing.T) {
	primary := pgtest.Shared(t).Primary()
	tests := []struct {
		name      string
		dialector func(t *testing.T, spy *execModeSpy) gorm.Dialector
		ctx       func(context.Context) context.Context
		ownPool   bool
		// wantExecMode: GORM's migrator passes pgx.QueryExecModeSimpleProtocol as an
		// argument (its branch for DriverName "" or "pgx"); -1 means not observable.
		wantExecMode int
	}{{
		name: "DriverName",
		dialector: func(t *testing.T, _ *execModeSpy) gorm.Dialector {
			schemas(t, "gormdn_", "s")
			return postgres.New(postgres.Config{DriverName: "pgprovider", DSN: primary.DSN("search_path", "gormdn_s")})
		},
		ctx:          func(ctx context.Context) context.Context { return ctx },
		ownPool:      true,
		wantExecMode: -1,
	}, {
		name: "Conn",
		dialector: func(t *testing.T, spy *execModeSpy) gorm.Dialector {
			schemas(t, "gormc_", "a")
			return postgres.New(postgres.Config{Conn: openTenantDB(t, primary.DSN(), "gormc_", new(retries), spy.middleware())})
		},
		ctx:          func(ctx context.Context) context.Context { return tenancy.WithTenant(ctx, "a") },
		wantExecMode: 1,
	}, {
		name: "Conn+DriverName",
		dialector: func(t *testing.T, spy *execModeSpy) gorm.Dialector {
			schemas(t, "gormcd_", "a")
			db := openTenantDB(t, primary.DSN(), "gormcd_", new(retries), spy.middleware())
			return postgres.New(postgres.Config{DriverName: "pgprovider", Conn: db})
		},
		ctx:          func(ctx context.Context) context.Context { return tenancy.WithTenant(ctx, "a") },
		wantExecMode: 0,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx(ctxT(t, 30*time.Second))
			var spy execModeSpy
			d := tc.dialector(t, &spy)
			g := openGorm(t, d, true)
			if tc.ownPool {
				closeOwnPool(t, g)
			}
			gc := g.WithContext(ctx)

			// AutoMigrate twice: the second run reads the existing columns (ColumnTypes), the
			// path where GORM may add pgx.QueryExecModeSimpleProtocol.
			for i := 0; i < 2; i++ {
				if err := gc.AutoMigrate(&product{}); err != nil {
					t.Fatalf("AutoMigrate #%d: %v", i+1, err)
				}
			}
			if !gc.Migrator().HasTable(&product{}) || !gc.Migrator().HasIndex(&product{}, "Code") {
				t.Fatal("table or unique index missing after AutoMigrate")
			}
			if tc.wantExecMode >= 0 && (spy.seen.Load() > 0) != (tc.wantExecMode > 0) {
				t.Fatalf("statements with a pgx.QueryExecMode argument: %d, want them: %v", spy.seen.Load(), tc.wantExecMode > 0)
			}
			t.Logf("statements with a pgx.QueryExecMode argument: %d", spy.seen.Load())

			// CRUD.
			p := product{Code: "d42", Price: 100}
			if err := gc.Create(&p).Error; err != nil || p.ID == 0 {
				t.Fatalf("Create: id %d, %v", p.ID, err)
			}
			var got product
			if err := gc.First(&got, "code = ?", "d42").Error; err != nil || got.Price != 100 {
				t.Fatalf("First = %+v, %v", got, err)
			}
			if err := gc.Model(&got).Update("price", 200).Error; err != nil {
				t.Fatal(err)
			}
			if err := gc.First(&got, got.ID).Error; err != nil || got.Price != 200 {
				t.Fatalf("after Update: %+v, %v", got, err)
			}
			if err := gc.Delete(&got).Error; err != nil {
				t.Fatal(err)
			}
			if err := gc.First(&got, got.ID).Error; !errors.Is(err, gorm.ErrRecordNotFound) {
				t.Fatalf("after Delete: %v, want ErrRecordNotFound", err)
			}

			// Transactions: committed, and rolled back by the closure's error.
			errAbort := errors.New("abort")
			if err := gc.Transaction(func(tx *gorm.DB) error {
				return tx.Create(&[]product{{Code: "t1", Price: 1}, {Code: "t2", Price: 2}}).Error
			}); err != nil {
				t.Fatal(err)
			}
			if err := gc.Transaction(func(tx *gorm.DB) error {
				if err := tx.Create(&product{Code: "t3", Price: 3}).Error; err != nil {
					return err
				}
				return errAbort
			}); !errors.Is(err, errAbort) {
				t.Fatalf("Transaction: %v, want errAbort", err)
			}
			var n int64
			if err := gc.Model(&product{}).Count(&n).Error; err != nil || n != 2 {
				t.Fatalf("Count = %d, %v; want 2", n, err)
			}

			// TranslateError: the *pgconn.PgError keeps its type through pgprovider, so
			// GORM's type assertion finds it.
			err := gc.Create(&product{Code: "t1"}).Error
			var pgErr *pgconn.PgError
			if !errors.Is(err, gorm.ErrDuplicatedKey) || !errors.As(err, &pgErr) || pgerror.Classify(err) != pgerror.UniqueViolation {
				t.Fatalf("duplicate with TranslateError: %v", err)
			}
			// Without TranslateError: the bare *pgconn.PgError, classified by pgerror.
			raw := openGorm(t, d, false)
			if tc.ownPool {
				closeOwnPool(t, raw)
			}
			err = raw.WithContext(ctx).Create(&product{Code: "t2"}).Error
			if errors.Is(err, gorm.ErrDuplicatedKey) || pgerror.Classify(err) != pgerror.UniqueViolation ||
				pgerror.Constraint(err) != "idx_products_code" {
				t.Fatalf("duplicate without TranslateError: %v (constraint %q)", err, pgerror.Constraint(err))
			}
		})
	}
}

// TestGormTenancy: the tenant travels in db.WithContext: AutoMigrate, writes and reads of
// each tenant stay in its schema; transactions are fixed to the tenant of their context.
func TestGormTenancy(t *testing.T) {
	ctx := ctxT(t, 30*time.Second)
	schemas(t, "gormt_", "a", "b")
	db := openTenantDB(t, pgtest.Shared(t).Primary().DSN(), "gormt_", new(retries))
	g := openGorm(t, postgres.New(postgres.Config{Conn: db}), true)
	codes := map[string][]string{"a": {"a1", "a2"}, "b": {"b1"}}
	for id, cs := range codes {
		tg := g.WithContext(tenancy.WithTenant(ctx, id))
		if err := tg.AutoMigrate(&product{}); err != nil {
			t.Fatalf("tenant %s: AutoMigrate: %v", id, err)
		}
		for _, c := range cs {
			if err := tg.Create(&product{Code: c}).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
	for id, want := range codes {
		var got []string
		if err := g.WithContext(tenancy.WithTenant(ctx, id)).Model(&product{}).Order("code").Pluck("code", &got).Error; err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || got[0] != want[0] {
			t.Fatalf("tenant %s sees %v, want %v", id, got, want)
		}
	}
	// The same code in both tenants is no duplicate: each has its own unique index.
	if err := g.WithContext(tenancy.WithTenant(ctx, "b")).Create(&product{Code: "a1"}).Error; err != nil {
		t.Fatalf("a1 in tenant b: %v", err)
	}

	tests := []struct {
		name string
		run  func() error
		want error
	}{
		{"no tenant", func() error { return g.WithContext(ctx).Find(&[]product{}).Error }, tenancy.ErrNoTenant},
		{"unknown tenant", func() error {
			return g.WithContext(tenancy.WithTenant(ctx, "nobody")).Find(&[]product{}).Error
		}, tenancy.ErrTenantNotFound},
		{"other tenant in transaction", func() error {
			return g.WithContext(tenancy.WithTenant(ctx, "a")).Transaction(func(tx *gorm.DB) error {
				if err := tx.Create(&product{Code: "a3"}).Error; err != nil {
					return err
				}
				return tx.WithContext(tenancy.WithTenant(ctx, "b")).Find(&[]product{}).Error
			})
		}, tenancy.ErrTenantMismatch},
		{"system context", func() error {
			var n int64
			err := g.WithContext(tenancy.System(ctx)).Table("gormt_a.products").Count(&n).Error
			if err == nil && n != 2 { // a3 was rolled back
				return errors.New("tenant a has a3 after the rollback")
			}
			return err
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestGormPgerrorMiddleware pins a limitation: GORM's TranslateError type-asserts
// err.(*pgconn.PgError), so with pgerror.Middleware (which wraps server errors in an
// its own type) it no longer translates. errors.Is with pgerror.UniqueViolation matches instead,
// and errors.As still reaches the *pgconn.PgError.
func TestGormPgerrorMiddleware(t *testing.T) {
	ctx := tenancy.WithTenant(ctxT(t, 30*time.Second), "a")
	schemas(t, "gormpe_", "a")
	db := openTenantDB(t, pgtest.Shared(t).Primary().DSN(), "gormpe_", new(retries), pgerror.Middleware())
	g := openGorm(t, postgres.New(postgres.Config{Conn: db}), true).WithContext(ctx)
	if err := g.AutoMigrate(&product{}); err != nil {
		t.Fatal(err)
	}
	if err := g.Create(&product{Code: "x"}).Error; err != nil {
		t.Fatal(err)
	}
	err := g.Create(&product{Code: "x"}).Error
	var pgErr *pgconn.PgError
	if !errors.Is(err, pgerror.UniqueViolation) || !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		t.Fatalf("duplicate: %v", err)
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		t.Fatal("GORM translated a wrapped error: the limitation is gone, update the README")
	}
	// sql.ErrNoRows is never wrapped, so GORM still recognises a missing record.
	if err := g.First(&product{}, "code = ?", "none").Error; !errors.Is(err, gorm.ErrRecordNotFound) {
		t.Fatalf("First missing: %v", err)
	}
}
