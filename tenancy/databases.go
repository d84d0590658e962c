package tenancy

import (
	"container/list"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
)

// ErrClosed is returned by [Databases.DB] after [Databases.Close].
var ErrClosed = errors.New("tenancy: databases closed")

// DatabasesOption configures [NewDatabases].
type DatabasesOption func(*dbConfig)

type dbConfig struct {
	maxTenants int
	perTenant  int
	budget     int
	idleTTL    time.Duration
	open       func(ctx context.Context, dsn string, mws ...middleware.Middleware) (*sql.DB, error)
	mws        []middleware.Middleware
}

// WithMaxTenants keeps at most n tenant pools open (default 16); the least recently used idle
// pool is evicted to make room.
func WithMaxTenants(n int) DatabasesOption { return func(c *dbConfig) { c.maxTenants = n } }

// WithConnsPerTenant sets each tenant pool's SetMaxOpenConns (default 4).
func WithConnsPerTenant(n int) DatabasesOption { return func(c *dbConfig) { c.perTenant = n } }

// WithConnBudget caps the connections of all tenant pools together, evicted pools that are
// still draining included (default: max tenants × conns per tenant). The number of pools
// open at once is budget / conns per tenant; a caller that needs a new pool when every slot
// is busy waits for one (bounded by its context) instead of overrunning max_connections.
func WithConnBudget(n int) DatabasesOption { return func(c *dbConfig) { c.budget = n } }

// WithIdleTTL closes a tenant pool unused for d (default 15 minutes; 0 disables).
func WithIdleTTL(d time.Duration) DatabasesOption { return func(c *dbConfig) { c.idleTTL = d } }

// WithDBMiddleware sets the middleware of every tenant pool (retry, tracing, ...).
func WithDBMiddleware(mws ...middleware.Middleware) DatabasesOption {
	return func(c *dbConfig) { c.mws = append([]middleware.Middleware(nil), mws...) }
}

// Databases opens one *sql.DB per tenant (database per tenant), lazily and once per tenant
// however many callers ask at the same time, keeps at most a fixed number open (LRU and idle
// TTL), closes an evicted pool only after the work that obtained it has released it, and
// enforces a global connection budget across tenants. It is safe for concurrent use.
type Databases struct {
	resolve func(ctx context.Context, tenant string) (string, error)
	cfg     dbConfig
	slots   int

	mu       sync.Mutex
	entries  map[string]*dbEntry
	lru      *list.List // of *dbEntry, most recently used first; open pools only
	live     int        // pools holding a slot: open, opening or draining
	draining int        // evicted pools still held by callers
	freed    chan struct{}
	closed   bool

	stop chan struct{}
	done chan struct{}
}

type dbEntry struct {
	tenant  string
	db      *sql.DB
	err     error
	ready   chan struct{} // closed when the open finished (db or err set)
	refs    int
	evicted bool
	last    time.Time
	elem    *list.Element
}

// NewDatabases returns a Databases whose resolve function maps a tenant id (already
// validated with [ValidateTenant]) to its DSN. Call Close when done.
func NewDatabases(resolve func(ctx context.Context, tenant string) (dsn string, err error), opts ...DatabasesOption) *Databases {
	c := dbConfig{maxTenants: 16, perTenant: 4, idleTTL: 15 * time.Minute}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	c.maxTenants, c.perTenant = max(c.maxTenants, 1), max(c.perTenant, 1)
	if c.budget <= 0 {
		c.budget = c.maxTenants * c.perTenant
	}
	d := &Databases{resolve: resolve, cfg: c, slots: max(min(c.maxTenants, c.budget/c.perTenant), 1),
		entries: make(map[string]*dbEntry), lru: list.New(), freed: make(chan struct{})}
	if c.idleTTL > 0 {
		d.stop, d.done = make(chan struct{}), make(chan struct{})
		go d.janitor()
	}
	return d
}

// DB returns the tenant's pool for the tenant in ctx ([WithTenant]) and a release function
// that must be called once the work on it is over (rows closed, transaction ended). The pool
// is opened on first use; a tenant whose database does not exist (SQLSTATE 3D000) gets an
// error matching [ErrTenantNotFound], and its pool is dropped, so the next call tries afresh
// (there is no retry loop). Errors never contain the DSN.
func (d *Databases) DB(ctx context.Context) (*sql.DB, func(), error) {
	id, ok := FromContext(ctx)
	if !ok {
		return nil, nil, ErrNoTenant
	}
	if err := ValidateTenant(id); err != nil {
		return nil, nil, err
	}
	for {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return nil, nil, ErrClosed
		}
		if e := d.entries[id]; e != nil {
			e.refs++
			d.mu.Unlock()
			select {
			case <-e.ready:
			case <-ctx.Done():
				d.release(e)
				return nil, nil, ctx.Err()
			}
			if e.err != nil {
				d.release(e)
				return nil, nil, e.err
			}
			d.mu.Lock()
			e.last = time.Now()
			if e.elem != nil {
				d.lru.MoveToFront(e.elem)
			}
			d.mu.Unlock()
			return e.db, d.releaser(e), nil
		}
		if d.live >= d.slots {
			if idle := d.evictIdle(); idle != nil {
				d.mu.Unlock()
				_ = idle.Close() // nobody holds it: only idle connections to close
				continue
			}
			// Every slot is held by work in progress: mark the least recently used pool for
			// closing (unless one is already draining) and wait until a pool closes.
			freed := d.freed
			if back := d.lru.Back(); back != nil && d.draining == 0 {
				d.evict(back.Value.(*dbEntry))
			}
			d.mu.Unlock()
			select {
			case <-freed:
				continue
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		}
		e := &dbEntry{tenant: id, ready: make(chan struct{}), refs: 1, last: time.Now()}
		d.entries[id] = e
		d.live++
		d.mu.Unlock()
		e.db, e.err = d.open(ctx, id)
		d.mu.Lock()
		if e.err != nil {
			delete(d.entries, id)
			e.evicted = true
			d.live--
			d.signal()
		} else if d.closed {
			delete(d.entries, id) // closed meanwhile: the pool closes with its last user
			e.evicted = true
			d.draining++
		} else {
			e.elem = d.lru.PushFront(e)
		}
		d.mu.Unlock()
		close(e.ready)
		if e.err != nil {
			d.release(e)
			return nil, nil, e.err
		}
		return e.db, d.releaser(e), nil
	}
}

// open resolves and opens the tenant's pool and checks it with a ping.
func (d *Databases) open(ctx context.Context, id string) (*sql.DB, error) {
	dsn, err := d.resolve(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("tenancy: resolving tenant %q: %w", id, err)
	}
	mws := append([]middleware.Middleware{d.watchConnect(id)}, d.cfg.mws...)
	db, err := pgprovider.Open(dsn, pgprovider.WithMiddleware(mws...))
	if err != nil {
		return nil, fmt.Errorf("tenancy: tenant %q: invalid DSN", id) // the parse error may quote it
	}
	db.SetMaxOpenConns(d.cfg.perTenant)
	db.SetMaxIdleConns(d.cfg.perTenant)
	if d.cfg.idleTTL > 0 {
		db.SetConnMaxIdleTime(d.cfg.idleTTL)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, connectError(id, err)
	}
	return db, nil
}

// connectError turns a failed first connection into an error without the DSN: 3D000
// (invalid_catalog_name) becomes ErrTenantNotFound; others keep their SQLSTATE.
func connectError(id string, err error) error {
	if errors.Is(err, ErrTenantNotFound) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if pgerror.Classify(err) == pgerror.NoDatabase {
		return fmt.Errorf("%w: tenant %q: database does not exist", ErrTenantNotFound, id)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Errorf("tenancy: tenant %q: connect: %s (SQLSTATE %s)", id, pe.Message, pe.Code)
	}
	return fmt.Errorf("tenancy: tenant %q: connect failed", id)
}

// watchConnect evicts the tenant's pool when a new connection finds its database gone
// (3D000 after the pool was opened): callers get ErrTenantNotFound, and the next DB call
// resolves the tenant afresh.
func (d *Databases) watchConnect(id string) middleware.Middleware {
	return middleware.Wrappers{Connect: func(next middleware.CallFunc) middleware.CallFunc {
		return func(ctx context.Context, c middleware.Call) error {
			err := next(ctx, c)
			if pgerror.Classify(err) == pgerror.NoDatabase {
				d.Evict(id)
				return connectError(id, err)
			}
			return err
		}
	}}
}

func (d *Databases) releaser(e *dbEntry) func() {
	var once sync.Once
	return func() { once.Do(func() { d.release(e) }) }
}

// release drops one reference; an evicted pool closes with its last reference.
func (d *Databases) release(e *dbEntry) {
	d.mu.Lock()
	e.refs--
	closeNow := e.evicted && e.refs == 0 && e.db != nil
	if closeNow {
		d.live--
		d.draining--
		d.signal()
	}
	d.mu.Unlock()
	if closeNow {
		_ = e.db.Close()
	}
}

// Evict drops the tenant's pool (for example after the tenant's database was dropped); it
// closes once in-flight work releases it.
func (d *Databases) Evict(tenant string) {
	d.mu.Lock()
	e := d.entries[tenant]
	var closeDB *sql.DB
	if e != nil && e.elem != nil {
		closeDB = d.evict(e)
	}
	d.mu.Unlock()
	if closeDB != nil {
		_ = closeDB.Close()
	}
}

// evict removes e from the map and the LRU; it returns the pool to close now when nobody
// holds it (the caller closes it outside the lock). d.mu is held.
func (d *Databases) evict(e *dbEntry) *sql.DB {
	delete(d.entries, e.tenant)
	d.lru.Remove(e.elem)
	e.elem, e.evicted = nil, true
	if e.refs > 0 {
		d.draining++
		return nil
	}
	d.live--
	d.signal()
	return e.db
}

// evictIdle evicts the least recently used pool nobody holds and returns it for the caller
// to close outside the lock, or nil. d.mu is held.
func (d *Databases) evictIdle() *sql.DB {
	for el := d.lru.Back(); el != nil; el = el.Prev() {
		if e := el.Value.(*dbEntry); e.refs == 0 {
			return d.evict(e)
		}
	}
	return nil
}

// signal wakes callers waiting for a slot. d.mu is held.
func (d *Databases) signal() {
	close(d.freed)
	d.freed = make(chan struct{})
}

func (d *Databases) janitor() {
	defer close(d.done)
	t := time.NewTicker(d.cfg.idleTTL / 2)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case now := <-t.C:
			d.sweep(now)
		}
	}
}

// sweep closes pools idle for longer than the idle TTL.
func (d *Databases) sweep(now time.Time) {
	var toClose []*sql.DB
	d.mu.Lock()
	for el := d.lru.Back(); el != nil; {
		e := el.Value.(*dbEntry)
		el = el.Prev()
		if e.refs == 0 && now.Sub(e.last) >= d.cfg.idleTTL {
			toClose = append(toClose, d.evict(e))
		}
	}
	d.mu.Unlock()
	for _, db := range toClose {
		_ = db.Close()
	}
}

// Stats reports the number of tenant pools open and holding a connection-budget slot
// (draining evicted pools included).
func (d *Databases) Stats() (open, live int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lru.Len(), d.live
}

// Close evicts every pool and stops the idle janitor. Pools still held close when released;
// DB fails with ErrClosed afterwards.
func (d *Databases) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	var toClose []*sql.DB
	for el := d.lru.Front(); el != nil; {
		e := el.Value.(*dbEntry)
		el = el.Next()
		if db := d.evict(e); db != nil {
			toClose = append(toClose, db)
		}
	}
	d.mu.Unlock()
	if d.stop != nil {
		close(d.stop)
		<-d.done
	}
	var errs []error
	for _, db := range toClose {
		errs = append(errs, db.Close())
	}
	return errors.Join(errs...)
}
