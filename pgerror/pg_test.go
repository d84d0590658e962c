package pgerror_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/pgerror"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, pgtest.Options{})) }

// Real server errors: through the middleware errors.Is matches and errors.As extracts the
// *pgconn.PgError from the same value; without it the type is unchanged and Is classifies.
func TestRealServerErrors(t *testing.T) {
	node := pgtest.Shared(t).Primary()
	plain, err := pgprovider.Open(node.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	wrapped, err := pgprovider.Open(node.DSN(), pgprovider.WithMiddleware(pgerror.Middleware()))
	if err != nil {
		t.Fatal(err)
	}
	defer wrapped.Close()
	if _, err := plain.Exec(`DROP TABLE IF EXISTS pe_child, pe_parent, pe_excl;
		CREATE TABLE pe_parent (id int PRIMARY KEY, v int NOT NULL CONSTRAINT v_pos CHECK (v > 0));
		CREATE TABLE pe_child (p int CONSTRAINT child_fk REFERENCES pe_parent (id));
		CREATE TABLE pe_excl (r int4range, CONSTRAINT no_overlap EXCLUDE USING gist (r WITH &&));
		INSERT INTO pe_parent VALUES (1, 1); INSERT INTO pe_excl VALUES ('[1,10)')`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, sql        string
		class            pgerror.Class
		constraint, col  string
		inReadOnly, stmt bool
	}{
		{name: "unique", sql: `INSERT INTO pe_parent VALUES (1, 1)`, class: pgerror.UniqueViolation, constraint: "pe_parent_pkey"},
		{name: "foreign key", sql: `INSERT INTO pe_child VALUES (2)`, class: pgerror.ForeignKeyViolation, constraint: "child_fk"},
		{name: "not null", sql: `INSERT INTO pe_parent VALUES (3, NULL)`, class: pgerror.NotNullViolation, col: "v"},
		{name: "check", sql: `INSERT INTO pe_parent VALUES (4, -1)`, class: pgerror.CheckViolation, constraint: "v_pos"},
		{name: "exclusion", sql: `INSERT INTO pe_excl VALUES ('[5,6)')`, class: pgerror.ExclusionViolation, constraint: "no_overlap"},
		{name: "undefined table", sql: `SELECT * FROM pe_missing`, class: pgerror.UndefinedTable},
		{name: "undefined column", sql: `SELECT missing FROM pe_parent`, class: pgerror.UndefinedColumn},
		{name: "query canceled", sql: `SET statement_timeout = '1ms'; SELECT pg_sleep(1)`, class: pgerror.QueryCanceled},
		{name: "read only", sql: `INSERT INTO pe_parent VALUES (9, 9)`, class: pgerror.ReadOnly, inReadOnly: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, db := range []*sql.DB{plain, wrapped} {
				err := run(db, tt.sql, tt.inReadOnly)
				var pe *pgconn.PgError
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v, no *pgconn.PgError", err)
				}
				if pgerror.Classify(err) != tt.class {
					t.Fatalf("Classify(%v) = %v", err, pgerror.Classify(err))
				}
				if db == wrapped && (!errors.Is(err, tt.class) || err.Error() != pe.Error()) {
					t.Fatalf("through the middleware: errors.Is = false or message changed: %v", err)
				}
				if db == plain {
					if _, ok := err.(*pgconn.PgError); !ok {
						t.Fatalf("the driver changed the error type: %T", err)
					}
				}
				if pgerror.Constraint(err) != tt.constraint || (tt.col != "" && pe.ColumnName != tt.col) {
					t.Fatalf("constraint %q column %q", pgerror.Constraint(err), pe.ColumnName)
				}
			}
		})
	}
	// Values compared by identity pass through the middleware untouched.
	var x int
	if err := wrapped.QueryRow(`SELECT 1 WHERE false`).Scan(&x); err != sql.ErrNoRows {
		t.Fatalf("err = %v, want sql.ErrNoRows itself", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := wrapped.ExecContext(ctx, `SELECT 1`); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	// A failed connection attempt: the server's 3D000 is classified, not mislabeled.
	bad, _ := pgprovider.Open(node.DSN("dbname", "pe_no_such_db"), pgprovider.WithMiddleware(pgerror.Middleware()))
	defer bad.Close()
	err = bad.Ping()
	if c := pgerror.Classify(err); c != pgerror.NoDatabase || c.Retryable() || c.Connection() || !errors.Is(err, pgerror.NoDatabase) {
		t.Fatalf("connect error %v classified %v", err, pgerror.Classify(err))
	}
}

func run(db *sql.DB, q string, readOnly bool) error {
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if !readOnly {
		_, err = conn.ExecContext(ctx, q)
		_, _ = conn.ExecContext(ctx, `RESET statement_timeout`)
		return err
	}
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, q)
	return err
}
