package pgotel

import (
	"sync"
	"sync/atomic"

	"github.com/pgprovider/pgprovider/internal/sqlscan"
	"go.opentelemetry.io/otel/trace"
)

// stmtCacheSize is the number of SQL texts one generation of a middleware's statement cache
// holds; the cache holds at most two generations.
const stmtCacheSize = 512

// stmtInfo is what the middleware derives once per SQL text.
type stmtInfo struct {
	info *sqlscan.Info
	// name is the span name when the caller gives no summary.
	name string
	// opts are the span start options (kind and attributes) of the common case: no caller
	// summary, db.namespace the database alone, no recorded parameters.
	opts []trace.SpanStartOption
}

func (m *Middleware) newStmt(sql string) *stmtInfo {
	info := sqlscan.Shared.Get(sql)
	st := &stmtInfo{info: info, name: info.Summary}
	if st.name == "" {
		st.name = postgresqlName
	}
	kv := m.statementAttrs(nil, info, m.dbName, info.Operation, info.Summary)
	st.opts = []trace.SpanStartOption{m.kind, trace.WithAttributes(kv[:len(kv):len(kv)]...)}
	return st
}

// stmt returns what the middleware derived from sql, from the cache when it is there.
func (m *Middleware) stmt(sql string) *stmtInfo {
	if len(sql) > sqlscan.MaxCachedText {
		return m.newStmt(sql) // the key would hold the whole text
	}
	if v, ok := m.stmts.cur.Load().m.Load(sql); ok {
		return v.(*stmtInfo)
	}
	return m.stmts.miss(sql, m.newStmt)
}

// stmtCache memoizes per SQL text what the middleware derives from it (the analysis, the span
// name, the span start options), so that an operation on a known text costs one map lookup.
// It is bounded: it keeps two generations of at most stmtCacheSize texts each (more only by
// the number of concurrent misses); a text found in the older one moves to the current one,
// and when the current generation is full it becomes the older one (the previous older one
// is dropped). Texts in use stay cached; a flood of distinct texts costs analysis, never
// unbounded memory.
type stmtCache struct {
	cur, old atomic.Pointer[stmtGen]
	mu       sync.Mutex // serializes rotations
	size     int64
}

type stmtGen struct {
	m sync.Map // string -> *stmtInfo
	n atomic.Int64
}

func newStmtCache(size int) *stmtCache {
	c := &stmtCache{size: int64(size)}
	c.cur.Store(new(stmtGen))
	return c
}

func (c *stmtCache) miss(sql string, build func(string) *stmtInfo) *stmtInfo {
	var st *stmtInfo
	if old := c.old.Load(); old != nil {
		if v, ok := old.m.Load(sql); ok {
			st = v.(*stmtInfo)
		}
	}
	if st == nil {
		st = build(sql)
	}
	g := c.cur.Load()
	if g.n.Load() >= c.size {
		c.mu.Lock()
		if g = c.cur.Load(); g.n.Load() >= c.size {
			c.old.Store(g)
			g = new(stmtGen)
			c.cur.Store(g)
		}
		c.mu.Unlock()
	}
	g.n.Add(1)
	if v, loaded := g.m.LoadOrStore(sql, st); loaded {
		g.n.Add(-1)
		return v.(*stmtInfo)
	}
	return st
}

// len returns the number of texts cached (approximate under concurrency).
func (c *stmtCache) len() int {
	n := c.cur.Load().n.Load()
	if old := c.old.Load(); old != nil {
		n += old.n.Load()
	}
	return int(n)
}
