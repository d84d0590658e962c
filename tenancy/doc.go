// Package tenancy isolates tenants that share one PostgreSQL database (schema per tenant,
// [Schema]; row-level security, [RLS]) or that each have their own database ([Databases]).
//
// The tenant travels in the context ([WithTenant]). Schema and RLS are middleware: every
// operation (statement, prepare, BeginTx, raw access) declares the session state its tenant
// needs through the driver's declared-state mechanism, and the driver makes the backend match
// before the operation runs. An unchanged tenant therefore costs no round trip, a switch one
// set_config round trip, and a pooled connection can never serve a statement with the previous
// tenant's search_path or setting, whatever happened on it before (user SET, RESET, DISCARD,
// rolled-back transactions, killed backends, fresh connections).
//
//	db, _ := pgprovider.Open(dsn, pgprovider.WithMiddleware(
//		retry.New(),
//		tenancy.Schema(tenancy.WithPrefix("tenant_"), tenancy.WithShared("shared")),
//	))
//	rows, err := db.QueryContext(tenancy.WithTenant(ctx, "acme"), "SELECT * FROM orders")
//
// # Rules
//
//   - No tenant in the context is [ErrNoTenant], unless [WithDefaultTenant] is set. Code
//     that legitimately runs without a tenant (migrations, health checks, listen.Notify from
//     system code) says so with [System]: in schema mode it runs with the system search_path
//     ([WithSystemSearchPath], default "$user", public); in RLS mode with the setting empty.
//   - Tenant ids are validated ([ValidateTenant]): ASCII letters, digits, '_' and '-', 1 to 63
//     bytes, no pg_ prefix. The schema name (prefix included) must fit PostgreSQL's 63-byte
//     identifier limit and is rejected otherwise, so two ids can never be truncated into one
//     schema. Schema names are quoted as identifiers; setting values travel as bind
//     parameters. Non-ASCII ids are rejected: map them to an ASCII id (a UUID, a slug) first.
//   - search_path is exactly the tenant's schema, then the schemas of [WithShared], then
//     pg_temp: never an implicit public, so a table missing from the tenant's schema is an
//     error (42P01), not a silent read of public's table.
//   - A tenant whose schema does not exist is [ErrTenantNotFound]. The check is one catalog
//     lookup per tenant, cached for [WithExistenceTTL] (5 minutes) per middleware; misses are
//     not cached. It runs before exec and query; prepare, BeginTx and raw access rely on the
//     first statement's check. A schema dropped while cached shows as 42P01 errors, which also
//     drop the cached answer, so the next statement gets ErrTenantNotFound.
//   - Transactions: the tenant is fixed at BeginTx. A statement in the transaction whose
//     context has no tenant runs as the transaction's tenant; one whose context names another
//     tenant (or System) fails with [ErrTenantMismatch] before anything is sent.
//   - Prepared statements (*sql.Stmt) run under the tenant of each call's context: PostgreSQL
//     re-plans a prepared statement when search_path changes.
//
// # Temporary tables
//
// pg_temp is placed last in search_path, explicitly. A temporary table therefore never shadows
// a tenant's table of the same name, whichever tenant created it on the pooled session; to
// read one, qualify it: pg_temp.name. Creating a temporary table pins the session to its
// backend (the driver will not silently replace it), and the table stays until the backend
// ends or DISCARD TEMP: do not keep tenant data in temporary tables across requests.
//
// # Tables that differ in shape between tenants
//
// A statement cached by pgx under one tenant's search_path fails with SQLSTATE 0A000 "cached
// plan must not change result type" when the other tenant's table has different columns.
// Outside a transaction the driver runs such a statement once more, described afresh, so
// the error never reaches the caller. Inside a
// transaction the error aborts the transaction and cannot be hidden: where tenants' shapes
// differ, run those statements outside transactions, give them tenant-specific SQL text, or
// pass pgx.QueryExecModeDescribeExec as the first argument.
//
// # Row-level security
//
// RLS declares the custom setting (for example app.tenant_id) equal to the tenant id, at
// session level, on every operation. Policies must treat "no tenant" as deny, and "no
// tenant" has two spellings: current_setting('app.tenant_id', true) is NULL on a fresh
// backend, and the empty string once the setting was set on that backend in any way (even
// transaction-locally, or by System):
//
//	ALTER TABLE items ENABLE ROW LEVEL SECURITY;
//	ALTER TABLE items FORCE ROW LEVEL SECURITY;
//	CREATE POLICY isolation ON items
//	  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), ''))
//	  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), ''));
//
// (For a uuid column, cast after NULLIF: casting the empty string to uuid raises 22P02.) Table owners,
// superusers and BYPASSRLS roles skip policies: the application must not log in as a
// superuser, and FORCE ROW LEVEL SECURITY is what subjects the table's owner to its policies.
//
// # Database per tenant
//
// [Databases] opens one *sql.DB per tenant through a resolver function, lazily and once
// (single-flight), keeps at most [WithMaxTenants] open (least recently used and idle pools
// go first, [WithIdleTTL] closes idle ones), closes an evicted pool only after every caller
// that obtained it released it, and keeps the connections of all pools under
// [WithConnBudget]. A tenant whose database does not exist (3D000) is [ErrTenantNotFound];
// nothing is retried, and errors never include the DSN.
package tenancy
