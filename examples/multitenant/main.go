// Command multitenant shows tenant isolation with pgprovider's tenancy package: schema per
// tenant (search_path) and row-level security (a custom setting read by policies), driven by a
// net/http middleware that takes the tenant from the X-Tenant header. It creates its schemas,
// role and table in DATABASE_URL, serves a few requests on a loopback port, prints the
// answers, drops what it created and exits.
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/tenancy"
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
		fmt.Fprintln(os.Stderr, "multitenant:", err)
		os.Exit(1)
	}
}

const setupSQL = `
DROP SCHEMA IF EXISTS mt_acme CASCADE; DROP SCHEMA IF EXISTS mt_globex CASCADE;
CREATE SCHEMA mt_acme;   CREATE TABLE mt_acme.items(name text);   INSERT INTO mt_acme.items VALUES ('anvil'), ('rocket skates');
CREATE SCHEMA mt_globex; CREATE TABLE mt_globex.items(name text); INSERT INTO mt_globex.items VALUES ('doomsday device');
DROP TABLE IF EXISTS public.mt_notes;
DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mt_app') THEN CREATE ROLE mt_app NOLOGIN; END IF; END$$;
CREATE TABLE public.mt_notes(tenant_id text NOT NULL, note text);
INSERT INTO public.mt_notes VALUES ('acme', 'order more anvils'), ('globex', 'hire a hero');
ALTER TABLE public.mt_notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.mt_notes FORCE ROW LEVEL SECURITY;
CREATE POLICY isolation ON public.mt_notes
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), ''))
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), ''));
GRANT SELECT, INSERT ON public.mt_notes TO mt_app;`

const teardownSQL = `DROP SCHEMA IF EXISTS mt_acme CASCADE; DROP SCHEMA IF EXISTS mt_globex CASCADE; DROP TABLE IF EXISTS public.mt_notes`

func run(ctx context.Context, dsn string, out io.Writer) error {
	// Schema mode: tenant "acme" reads schema mt_acme; nothing else is on the search_path
	// except pg_temp (last), so a missing table never falls through to public.
	schemaDB, err := pgprovider.Open(dsn, pgprovider.WithMiddleware(tenancy.Schema(tenancy.WithPrefix("mt_"))))
	if err != nil {
		return err
	}
	defer schemaDB.Close()
	// RLS mode: every statement declares app.tenant_id. Policies do not apply to superusers,
	// so the sessions run as the unprivileged role mt_app (the "role" startup parameter).
	rlsDB, err := pgprovider.Open(dsn,
		pgprovider.WithConnConfig(func(c *pgx.ConnConfig) { c.RuntimeParams["role"] = "mt_app" }),
		pgprovider.WithMiddleware(tenancy.RLS("app.tenant_id")))
	if err != nil {
		return err
	}
	defer rlsDB.Close()

	// Setup and teardown are system work: an explicit exemption, not a missing tenant.
	sys := tenancy.System(ctx)
	if _, err := schemaDB.ExecContext(sys, setupSQL); err != nil {
		return fmt.Errorf("setup (needs a role that may create schemas and roles): %w", err)
	}
	defer schemaDB.ExecContext(tenancy.System(context.Background()), teardownSQL)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /items", list(schemaDB, "SELECT name FROM items ORDER BY name"))
	mux.HandleFunc("GET /notes", list(rlsDB, "SELECT note FROM mt_notes ORDER BY note"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: TenantFromHeader("X-Tenant", mux), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	base := "http://" + ln.Addr().String()
	for _, r := range []struct{ path, tenant string }{
		{"/items", "acme"}, {"/items", "globex"}, {"/notes", "acme"}, {"/notes", "globex"},
		{"/items", ""},          // no tenant: 401
		{"/items", "a, public"}, // invalid id: 400
		{"/items", "initech"},   // no such schema: 404
		{"/notes", "initech"},   // RLS: an unknown tenant simply sees no rows
	} {
		status, body, err := get(ctx, base+r.path, r.tenant)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "GET %-6s X-Tenant=%-10q -> %d %s\n", r.path, r.tenant, status, body)
	}
	if err := srv.Shutdown(ctx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// TenantFromHeader is a net/http middleware that puts the tenant named by header into the
// request's context. Requests without one are rejected, and so are invalid ids, before any
// database work.
func TenantFromHeader(header string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(header)
		if id == "" {
			http.Error(w, "missing "+header, http.StatusUnauthorized)
			return
		}
		if err := tenancy.ValidateTenant(id); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		next.ServeHTTP(w, r.WithContext(tenancy.WithTenant(r.Context(), id)))
	})
}

// list answers with the rows of query, run under the request's tenant.
func list(db *sql.DB, query string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rows, err := db.QueryContext(r.Context(), query)
		if err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, tenancy.ErrTenantNotFound) {
				status = http.StatusNotFound
			}
			http.Error(w, err.Error(), status)
			return
		}
		defer rows.Close()
		var names []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			names = append(names, s)
		}
		if err := rows.Err(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "[%s]\n", strings.Join(names, ", "))
	}
}

func get(ctx context.Context, url, tenant string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if tenant != "" {
		req.Header.Set("X-Tenant", tenant)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), err
}
