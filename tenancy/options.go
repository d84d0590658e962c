package tenancy

import "time"

// Option configures [Schema] and [RLS]. Options that only make sense for one mode say so and
// are ignored by the other.
type Option func(*config)

type config struct {
	prefix        string
	mapping       func(tenant string) (string, error)
	shared        []string
	systemPath    []string
	defaultTenant string
	hasDefault    bool
	existsTTL     time.Duration
}

func newConfig(opts []Option) config {
	c := config{
		systemPath: []string{"$user", "public"},
		existsTTL:  5 * time.Minute,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

// WithPrefix makes the default mapping prefix+tenant (schema mode). The 63-byte identifier
// limit applies to the result: a tenant id that does not fit with the prefix is rejected.
func WithPrefix(prefix string) Option { return func(c *config) { c.prefix = prefix } }

// WithMapping replaces the default mapping from tenant id to schema name (schema mode). The
// tenant id is validated before f is called and the schema name after; f must be injective
// (two tenants must never share a schema) and deterministic, since its result is cached.
func WithMapping(f func(tenant string) (schema string, err error)) Option {
	return func(c *config) { c.mapping = f }
}

// WithShared lists schemas searched after the tenant's schema (schema mode), for shared
// reference tables. Nothing else is on the search_path: no implicit public. pg_temp is always
// placed last.
func WithShared(schemas ...string) Option {
	return func(c *config) { c.shared = append([]string(nil), schemas...) }
}

// WithSystemSearchPath sets the search_path of [System] contexts (schema mode). The default is
// the server's own default, "$user", public (with pg_temp last).
func WithSystemSearchPath(schemas ...string) Option {
	return func(c *config) { c.systemPath = append([]string(nil), schemas...) }
}

// WithDefaultTenant makes operations whose context has no tenant (and is not a [System]
// context) run as tenant id instead of failing with [ErrNoTenant].
func WithDefaultTenant(id string) Option {
	return func(c *config) { c.defaultTenant, c.hasDefault = id, true }
}

// WithExistenceTTL sets how long a positive answer to "does this tenant's schema exist" is
// trusted (schema mode, default 5 minutes). A missing schema is never cached, so a tenant
// created later works at once; a schema dropped later is noticed at the latest after d, or at
// once when a statement fails with 42P01 (undefined table).
func WithExistenceTTL(d time.Duration) Option { return func(c *config) { c.existsTTL = d } }
