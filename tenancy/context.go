package tenancy

import (
	"context"
	"errors"
)

// ErrNoTenant is returned for an operation whose context carries neither a tenant
// ([WithTenant]) nor the system exemption ([System]), when no default tenant is configured.
var ErrNoTenant = errors.New("tenancy: no tenant in the context")

// ErrTenantNotFound is matched (errors.Is) by the error for a tenant whose schema (schema
// mode) or database (database mode, SQLSTATE 3D000) does not exist.
var ErrTenantNotFound = errors.New("tenancy: tenant not found")

// ErrInvalidTenant is matched (errors.Is) by the error for a tenant id that fails validation
// (see [ValidateTenant]) or maps to an unusable schema name.
var ErrInvalidTenant = errors.New("tenancy: invalid tenant id")

// ErrTenantMismatch is returned for a statement inside a transaction whose context names a
// tenant other than the one the transaction began with (the tenant is fixed at BeginTx).
var ErrTenantMismatch = errors.New("tenancy: statement's tenant differs from its transaction's")

type ctxKey struct{}

// scope is what a context says about tenancy: a tenant id, or the system exemption.
type scope struct {
	id     string
	system bool
}

// WithTenant returns a copy of ctx in which tenantID is the tenant. It replaces any tenant or
// system exemption set earlier. The id is validated when a statement runs, not here.
func WithTenant(ctx context.Context, tenantID string) context.Context {
	return context.WithValue(ctx, ctxKey{}, scope{id: tenantID})
}

// System returns a copy of ctx exempt from tenancy: migrations, health checks and other
// system code run with no tenant's state. In schema mode the statement runs with the system
// search_path (see [WithSystemSearchPath]); in RLS mode the setting is declared empty, which
// a correct policy reads as "no tenant". It replaces any tenant set earlier.
func System(ctx context.Context) context.Context {
	return context.WithValue(ctx, ctxKey{}, scope{system: true})
}

// FromContext returns the tenant set by [WithTenant], and false when ctx has none (including
// a [System] context).
func FromContext(ctx context.Context) (string, bool) {
	sc, ok := ctx.Value(ctxKey{}).(scope)
	if !ok || sc.system {
		return "", false
	}
	return sc.id, true
}

func scopeOf(ctx context.Context) (scope, bool) {
	sc, ok := ctx.Value(ctxKey{}).(scope)
	return sc, ok
}
