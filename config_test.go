package pgprovider_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/middleware"
)

func TestDSNForms(t *testing.T) {
	node := pgtest.Shared(t).Primary()
	dead := "127.0.0.1:1" // nothing listens there
	tests := []struct {
		name, dsn string
		check     string // a query whose text result must be "ok"
	}{
		{"url", node.URL(), `select 'ok'`},
		{"key=value", node.DSN(), `select 'ok'`},
		{"runtime parameter", node.DSN("application_name", "pgp-dsn"), `select case when current_setting('application_name') = 'pgp-dsn' then 'ok' end`},
		{"options", node.DSN("options", "-c search_path=pg_catalog"), `select case when current_setting('search_path') = 'pg_catalog' then 'ok' end`},
		{"multi-host read-write", fmt.Sprintf("postgres://postgres@%s,%s:%d/postgres?sslmode=disable&target_session_attrs=read-write&connect_timeout=2", dead, node.Host, node.Port), `select case when not pg_is_in_recovery() then 'ok' end`},
		{"sslmode prefer falls back", node.DSN("sslmode", "prefer"), `select 'ok'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := sql.Open("pgprovider", tt.dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var s sql.NullString
			if err := db.QueryRowContext(ctxT(t), tt.check).Scan(&s); err != nil || s.String != "ok" {
				t.Fatalf("%q: %v", s.String, err)
			}
		})
	}
}

func TestMalformedDSNRedactsPassword(t *testing.T) {
	const secret = "s3cr3t-pw"
	dsns := []string{
		"postgres://user:" + secret + "@localhost:notaport/db",
		"host=localhost password=" + secret + " port=notaport",
		"postgres://user:" + secret + "@localhost/db?sslmode=bogus",
	}
	for _, dsn := range dsns {
		if _, err := pgprovider.Open(dsn); err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("Open: %v", err)
		}
		if _, err := pgprovider.NewConnector(dsn); err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("NewConnector: %v", err)
		}
		db, err := sql.Open("pgprovider", dsn) // lazy, as with pgx
		if err != nil {
			t.Fatalf("sql.Open must not fail: %v", err)
		}
		err = db.PingContext(context.Background())
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("first use: %v", err)
		}
		db.Close()
	}
}

func TestRegister(t *testing.T) {
	if err := pgprovider.Register(""); !errors.Is(err, pgprovider.ErrDriverName) {
		t.Fatalf("empty name: %v", err)
	}
	if err := pgprovider.Register("pgprovider"); !errors.Is(err, pgprovider.ErrDriverName) {
		t.Fatalf("duplicate name: %v", err)
	}
	var execs atomic.Int64
	counting := middleware.Wrappers{Exec: func(next middleware.ExecFunc) middleware.ExecFunc {
		return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
			execs.Add(1)
			return next(ctx, s)
		}
	}}
	name := fmt.Sprintf("pgprovider-test-%d", execs.Load())
	if err := pgprovider.Register(name, pgprovider.WithMiddleware(counting)); err != nil {
		t.Fatal(err)
	}
	if err := pgprovider.Register(name); !errors.Is(err, pgprovider.ErrDriverName) {
		t.Fatalf("second registration: %v", err)
	}
	db, err := sql.Open(name, pgtest.Shared(t).Primary().DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, `select 1`)
	if execs.Load() != 1 {
		t.Fatalf("the named driver did not use its middleware: %d", execs.Load())
	}
}

func TestConnectHooks(t *testing.T) {
	const pw = "rotated-Pa55"
	cl := pgtest.New(t, pgtest.Options{Password: pw})
	node := cl.Primary()
	// The DSN carries a stale password; BeforeConnect supplies a fresh one per connection.
	var before, after atomic.Int64
	db, err := pgprovider.Open(node.DSN("password", "stale"),
		pgprovider.WithBeforeConnect(func(ctx context.Context, c *pgx.ConnConfig) error {
			before.Add(1)
			c.Password = pw
			return nil
		}),
		pgprovider.WithAfterConnect(func(ctx context.Context, c *pgx.Conn) error {
			after.Add(1)
			_, err := c.Exec(ctx, `set application_name = 'after-connect'`)
			return err
		}),
		pgprovider.WithConnConfig(func(c *pgx.ConnConfig) { c.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol }),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var app string
	if err := db.QueryRowContext(ctxT(t), `select current_setting('application_name')`).Scan(&app); err != nil {
		t.Fatal(err)
	}
	if app != "after-connect" || before.Load() != 1 || after.Load() != 1 {
		t.Fatalf("app=%q before=%d after=%d", app, before.Load(), after.Load())
	}
	// Without the hook the stale password fails, and the error never shows a password.
	bad, _ := pgprovider.Open(node.DSN("password", "stale-secret-x"))
	defer bad.Close()
	if err := bad.PingContext(ctxT(t)); err == nil || strings.Contains(err.Error(), "stale-secret-x") || strings.Contains(err.Error(), pw) {
		t.Fatalf("stale password: %v", err)
	}
}

func TestConnectorClose(t *testing.T) {
	var log []string
	c, err := pgprovider.NewConnector(pgtest.Shared(t).Primary().DSN(),
		pgprovider.WithMiddleware(recorder{"first", &log}, recorder{"second", &log}))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	mustExec(t, db, `select 1`)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(log, ","); !strings.HasSuffix(got, "second:close,first:close") {
		t.Fatalf("closers: %s", got)
	}
	if _, err := c.Connect(context.Background()); !errors.Is(err, pgprovider.ErrConnectorClosed) {
		t.Fatalf("connect after close: %v", err)
	}
	if err := c.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if c.ConnConfig() == nil || c.ConnConfig().Host == "" {
		t.Fatal("ConnConfig")
	}
}
