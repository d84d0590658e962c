package tenancy

import (
	"context"
	"database/sql/driver"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
)

type mode uint8

const (
	modeSchema mode = iota
	modeRLS
)

// maxCachedTenants bounds the per-middleware cache of tenant states; past it the cache
// starts over (a correctness-neutral event: entries are recomputed on demand).
const maxCachedTenants = 10000

// tenant is everything precomputed for one tenant (or the system exemption): the declared
// state is built once and shared by every statement, so an unchanged tenant costs no
// allocation.
type tenant struct {
	id           string
	schema       string
	system       bool
	state        middleware.State
	checkedUntil atomic.Int64 // schema mode: unix nanos until which the schema is known to exist
}

// tenancy is the middleware behind [Schema] and [RLS].
type tenancy struct {
	cfg     config
	mode    mode
	setting string
	system  *tenant

	mu      sync.RWMutex
	tenants map[string]*tenant
}

// Schema returns the schema-per-tenant middleware. Every operation declares
// search_path = <tenant schema>[, shared schemas...], pg_temp through the driver's session
// state, so the backend is switched (in at most one round trip) only when its state differs,
// and never keeps the previous tenant's path. See the package documentation for the rules.
func Schema(opts ...Option) middleware.Middleware {
	m := newTenancy(modeSchema, "search_path", opts)
	return m
}

// RLS returns the row-level-security middleware: every operation declares the custom setting
// (for example "app.tenant_id") equal to the tenant id, at session level, through the driver's
// session state. [System] contexts declare it empty. The setting must be a custom setting
// name with a dot (class.name); RLS panics otherwise, as for a malformed regular expression.
func RLS(setting string, opts ...Option) middleware.Middleware {
	if !validSetting(setting) {
		panic(fmt.Sprintf("tenancy: RLS setting %q is not a custom setting name such as app.tenant_id", setting))
	}
	return newTenancy(modeRLS, setting, opts)
}

func validSetting(s string) bool {
	dot := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if i == 0 || i == len(s)-1 || dot {
				return false
			}
			dot = true
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return dot && len(s) <= maxIdentifier
}

func newTenancy(md mode, setting string, opts []Option) *tenancy {
	m := &tenancy{cfg: newConfig(opts), mode: md, setting: setting,
		tenants: make(map[string]*tenant)}
	sys := &tenant{system: true}
	if md == modeSchema {
		sys.state = middleware.State{{Name: setting, Value: middleware.SearchPath(m.cfg.systemPath...)}}
	} else {
		sys.state = middleware.State{{Name: setting, Value: ""}}
	}
	m.system = sys
	return m
}

// Wrappers declares the tenant's state on every statement, transaction and raw access; its
// rank places tenancy after retry and before replica routing.
func (m *tenancy) Wrappers(middleware.Connector) middleware.Wrappers {
	return middleware.Wrappers{
		Rank:    middleware.RankTenancy,
		Exec:    m.wrapExec,
		Query:   m.wrapQuery,
		Prepare: m.wrapPrepare,
		Begin:   m.wrapBegin,
		Raw:     m.wrapRaw,
	}
}

// lookup returns the cached tenant, building (and validating) it on first use. Invalid ids
// are never cached.
func (m *tenancy) lookup(id string) (*tenant, error) {
	m.mu.RLock()
	t := m.tenants[id]
	m.mu.RUnlock()
	if t != nil {
		return t, nil
	}
	t, err := m.build(id)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if old := m.tenants[id]; old != nil {
		t = old
	} else {
		if len(m.tenants) >= maxCachedTenants {
			m.tenants = make(map[string]*tenant)
		}
		m.tenants[id] = t
	}
	m.mu.Unlock()
	return t, nil
}

func (m *tenancy) build(id string) (*tenant, error) {
	if err := ValidateTenant(id); err != nil {
		return nil, err
	}
	t := &tenant{id: id}
	if m.mode == modeRLS {
		t.state = middleware.State{{Name: m.setting, Value: id}}
		return t, nil
	}
	schema := m.cfg.prefix + id
	if m.cfg.mapping != nil {
		s, err := m.cfg.mapping(id)
		if err != nil {
			return nil, fmt.Errorf("%w: mapping: %w", ErrInvalidTenant, err)
		}
		schema = s
	}
	if err := validateSchema(schema); err != nil {
		return nil, err
	}
	t.schema = schema
	path := make([]string, 0, 1+len(m.cfg.shared))
	path = append(append(path, schema), m.cfg.shared...)
	t.state = middleware.State{{Name: m.setting, Value: middleware.SearchPath(path...)}}
	return t, nil
}

// resolve decides the tenant of an operation from its context and, inside a transaction,
// from the tenant the transaction began with.
func (m *tenancy) resolve(ctx context.Context, sess middleware.Session, inTx bool) (*tenant, error) {
	sc, ok := scopeOf(ctx)
	if inTx && sess != nil {
		if tt, _ := sess.TxValue(txTenantKey{m}).(*tenant); tt != nil {
			if ok && (sc.system != tt.system || sc.id != tt.id) {
				return nil, fmt.Errorf("%w: transaction began as %s, statement asks for %s", ErrTenantMismatch, tt.name(), scopeName(sc))
			}
			return tt, nil
		}
	}
	if !ok {
		if !m.cfg.hasDefault {
			return nil, ErrNoTenant
		}
		sc = scope{id: m.cfg.defaultTenant}
	}
	if sc.system {
		return m.system, nil
	}
	return m.lookup(sc.id)
}

func (t *tenant) name() string {
	if t.system {
		return "system"
	}
	return fmt.Sprintf("tenant %q", t.id)
}

func scopeName(sc scope) string {
	if sc.system {
		return "system"
	}
	return fmt.Sprintf("tenant %q", sc.id)
}

// txTenantKey is the key of the tenant a transaction began as, in the context of its BEGIN;
// the statements of the transaction find it with middleware.Session.TxValue.
type txTenantKey struct{ m *tenancy }

// declare returns the state an operation must carry: the tenant's precomputed state, merged
// into what an outer middleware declared (copying only in that rare case).
func declare(have middleware.State, t *tenant) middleware.State {
	if len(have) == 0 {
		return t.state
	}
	v := t.state[0]
	return have.With(v.Name, v.Value)
}

// needsCheck reports whether the tenant's schema must be looked up before the statement.
func (m *tenancy) needsCheck(t *tenant) bool {
	return m.mode == modeSchema && !t.system && time.Now().UnixNano() >= t.checkedUntil.Load()
}

const existsSQL = "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1"

func (m *tenancy) checkStmt(s middleware.Statement, t *tenant) middleware.Statement {
	return middleware.Statement{Op: middleware.OpQuery, Session: s.Session, SQL: existsSQL,
		Args: []driver.NamedValue{{Ordinal: 1, Value: t.schema}}, InTx: s.InTx, State: s.State}
}

func (m *tenancy) found(t *tenant, ok bool) error {
	if !ok {
		return fmt.Errorf("%w: tenant %q: schema %q does not exist", ErrTenantNotFound, t.id, t.schema)
	}
	t.checkedUntil.Store(time.Now().Add(m.cfg.existsTTL).UnixNano())
	return nil
}

func (m *tenancy) checkExec(ctx context.Context, next middleware.ExecFunc, s middleware.Statement, t *tenant) error {
	c := m.checkStmt(s, t)
	c.Op = middleware.OpExec
	res, err := next(ctx, c)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	return m.found(t, n > 0)
}

func (m *tenancy) checkQuery(ctx context.Context, next middleware.QueryFunc, s middleware.Statement, t *tenant) error {
	rows, err := next(ctx, m.checkStmt(s, t))
	if err != nil {
		return err
	}
	dest := make([]driver.Value, len(rows.Columns()))
	err = rows.Next(dest)
	cerr := rows.Close()
	switch {
	case err == io.EOF:
		return m.found(t, false)
	case err != nil:
		return err
	case cerr != nil:
		return cerr
	}
	return m.found(t, true)
}

// failed updates the tenant's cached facts after a statement error: an undefined table may
// mean the schema was dropped, so look again next time.
func (m *tenancy) failed(err error, t *tenant) {
	if pgerror.Classify(err) == pgerror.UndefinedTable {
		t.checkedUntil.Store(0)
	}
}

// wrapExec declares the tenant's state for exec and prepared-statement exec.
func (m *tenancy) wrapExec(next middleware.ExecFunc) middleware.ExecFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
		t, err := m.resolve(ctx, s.Session, s.InTx)
		if err != nil {
			return nil, err
		}
		s.State = declare(s.State, t)
		if m.needsCheck(t) {
			if err := m.checkExec(ctx, next, s, t); err != nil {
				return nil, err
			}
		}
		res, err := next(ctx, s)
		if err != nil {
			m.failed(err, t)
		}
		return res, err
	}
}

// wrapQuery declares the tenant's state for query and prepared-statement query.
func (m *tenancy) wrapQuery(next middleware.QueryFunc) middleware.QueryFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
		t, err := m.resolve(ctx, s.Session, s.InTx)
		if err != nil {
			return nil, err
		}
		s.State = declare(s.State, t)
		if m.needsCheck(t) {
			if err := m.checkQuery(ctx, next, s, t); err != nil {
				return nil, err
			}
		}
		rows, err := next(ctx, s)
		if err != nil {
			m.failed(err, t)
		}
		return rows, err
	}
}

// wrapPrepare declares the tenant's state, so that the statement is parsed under the
// tenant's search_path.
func (m *tenancy) wrapPrepare(next middleware.PrepareFunc) middleware.PrepareFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Stmt, error) {
		t, err := m.resolve(ctx, s.Session, s.InTx)
		if err != nil {
			return nil, err
		}
		s.State = declare(s.State, t)
		return next(ctx, s)
	}
}

// wrapBegin fixes the transaction's tenant (its statements find it with Session.TxValue) and
// applies its state before BEGIN.
func (m *tenancy) wrapBegin(next middleware.BeginFunc) middleware.BeginFunc {
	return func(ctx context.Context, b middleware.Begin) error {
		t, err := m.resolve(ctx, b.Session, false)
		if err != nil {
			return err
		}
		b.State = declare(b.State, t)
		return next(context.WithValue(ctx, txTenantKey{m}, t), b)
	}
}

// wrapRaw applies the tenant's state before user code gets the *pgx.Conn (CopyFrom, Batch).
func (m *tenancy) wrapRaw(next middleware.CallFunc) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error {
		t, err := m.resolve(ctx, c.Session, c.Session.InTx())
		if err != nil {
			return err
		}
		c.State = declare(c.State, t)
		return next(ctx, c)
	}
}
