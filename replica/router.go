package replica

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
)

// Router is the replica-routing middleware and the cluster monitor. Build it with [New],
// list it last in pgprovider.WithMiddleware (its rank is middleware.RankRouting), and let the
// Connector close it (it implements io.Closer). A Router belongs to one Connector.
type Router struct {
	cfg          config
	nodes        []*node
	watchPrimary bool
	beforeProbe  func(context.Context, *pgx.ConnConfig) error

	mu         sync.RWMutex
	primary    atomic.Pointer[node]
	changed    chan struct{} // closed and replaced when the elected primary changes
	changes    uint64
	splitBrain bool
	ring       ring

	rr            atomic.Uint64
	evictSessions sync.Map // session ID → struct{}: sessions whose backend answered 25006
	// evicting counts what wrapResetSession must look at: entries of evictSessions plus
	// nodes with client PIDs to evict. Zero, as on a healthy cluster, makes the check free.
	evicting atomic.Int64

	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ middleware.Middleware = (*Router)(nil)

// New builds a Router for the given replica DSNs and starts its monitor. Each replica gets
// its own pool of connections from a pgprovider Connector (see [WithPoolSize],
// [WithConnectorOptions]). Every node is probed once before New returns (each probe within
// the probe timeout), so routing works from the first statement.
func New(replicaDSNs []string, opts ...Option) (*Router, error) {
	cfg := defaults()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	var pc pgprovider.Config
	for _, o := range cfg.connOpts {
		if o != nil {
			o(&pc)
		}
	}
	if len(pc.Middleware) > 0 {
		return nil, errors.New("replica: WithConnectorOptions must not add middleware")
	}
	r := &Router{cfg: cfg, changed: make(chan struct{}), done: make(chan struct{}), beforeProbe: pc.BeforeConnect}
	byName := map[string]bool{}
	add := func(base *pgx.ConnConfig, host string, port uint16, fb *pgconn.FallbackConfig, dsn string, single bool) error {
		name := hostPort(host, port)
		if byName[name] {
			return nil
		}
		byName[name] = true
		pcfg := base.Copy()
		pcfg.Host, pcfg.Port, pcfg.Fallbacks, pcfg.ValidateConnect = host, port, nil, nil
		if fb != nil {
			pcfg.TLSConfig = fb.TLSConfig
		}
		pcfg.RuntimeParams["application_name"] = cfg.monitorAppTag
		pcfg.ConnectTimeout = cfg.timeout
		for _, f := range pc.ConnConfig {
			f(pcfg)
		}
		copts := append([]pgprovider.Option(nil), cfg.connOpts...)
		copts = append(copts, pgprovider.WithConnConfig(func(c *pgx.ConnConfig) {
			if c.DialFunc != nil {
				c.DialFunc = dialCapture(c.DialFunc)
			}
		}))
		if !single {
			copts = append(copts, pgprovider.WithConnConfig(func(c *pgx.ConnConfig) {
				c.Host, c.Port, c.Fallbacks, c.ValidateConnect = host, port, nil, nil
				if fb != nil {
					c.TLSConfig = fb.TLSConfig
				}
			}))
		}
		ctr, err := pgprovider.NewConnector(dsn, copts...)
		if err != nil {
			return err
		}
		n := &node{idx: len(r.nodes), name: name, probeCfg: pcfg,
			pool: newPool(ctr, cfg.maxOpen, cfg.maxIdle), kick: make(chan struct{}, 1)}
		n.target = nodeTarget{r: r, n: n}
		r.nodes = append(r.nodes, n)
		return nil
	}
	addDSN := func(dsn string) error {
		base, err := pgx.ParseConfig(dsn)
		if err != nil {
			return err
		}
		if err := add(base, base.Host, base.Port, nil, dsn, len(base.Fallbacks) == 0); err != nil {
			return err
		}
		for _, fb := range base.Fallbacks {
			if err := add(base, fb.Host, fb.Port, fb, dsn, false); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	for _, dsn := range replicaDSNs {
		if err = addDSN(dsn); err != nil {
			break
		}
	}
	if err == nil && cfg.primaryDSN != "" {
		r.watchPrimary = true
		err = addDSN(cfg.primaryDSN)
	}
	if err == nil && len(r.nodes) > 64 {
		err = errors.New("replica: at most 64 nodes")
	}
	if err != nil {
		for _, n := range r.nodes {
			_ = n.pool.close()
		}
		return nil, fmt.Errorf("replica: %w", err)
	}
	var wg sync.WaitGroup
	for _, n := range r.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.update(n, r.probe(n))
		}()
	}
	wg.Wait()
	for _, n := range r.nodes {
		r.wg.Add(1)
		go r.loop(n)
	}
	return r, nil
}

// Wrappers routes statements and transactions; its rank places the Router last in the
// chain (middleware.RankRouting).
func (r *Router) Wrappers(middleware.Connector) middleware.Wrappers {
	return middleware.Wrappers{
		Rank:         middleware.RankRouting,
		Connect:      r.wrapConnect,
		ResetSession: r.wrapResetSession,
		Begin:        r.wrapBegin,
		Commit:       r.wrapEndTx,
		Rollback:     r.wrapEndTx,
		Exec:         r.wrapExec,
		Query:        r.wrapQuery,
		RowsEnd:      r.wrapRowsEnd,
	}
}

// Close stops the monitor and closes the replica pools. The Connector calls it.
func (r *Router) Close() error {
	r.closeOnce.Do(func() {
		close(r.done)
		r.wg.Wait()
		var errs []error
		for _, n := range r.nodes {
			errs = append(errs, n.pool.close())
		}
		r.closeErr = errors.Join(errs...)
	})
	return r.closeErr
}

// suspect opens a node's breaker after a connection error: no statement goes to it until a
// probe, started at once, succeeds.
func (r *Router) suspect(n *node) {
	r.mu.Lock()
	n.suspect = true
	r.mu.Unlock()
	n.poke()
}

// pick chooses an eligible replica not yet tried. toPrimary reports that read-your-writes
// requires the primary.
func (r *Router) pick(in *intent, tried uint64) (_ *node, toPrimary bool) {
	maxLag, maxBytes := r.cfg.maxLag, r.cfg.maxLagBytes
	var need uint64 // strict read-your-writes: minimum replay position
	r.mu.RLock()
	defer r.mu.RUnlock()
	if in != nil {
		if in.hasMaxLag {
			maxLag = in.maxLag
		}
		if in.maxBytes != 0 {
			maxBytes = in.maxBytes
		}
		if t := in.token; t != nil && (t.pending.Load() > 0 || t.lastWrite.Load() != 0) {
			if t.pending.Load() > 0 {
				return nil, true
			}
			lw := t.lastWrite.Load()
			if !r.cfg.strict {
				if time.Since(time.Unix(0, lw)) < r.cfg.sticky {
					return nil, true
				}
			} else {
				lsn, ok := r.ring.insertAfter(lw)
				if !ok {
					return nil, true
				}
				need = lsn
			}
		}
	}
	var cand [64]*node
	k := 0
	for _, n := range r.nodes {
		if !n.up || n.suspect || n.role != RoleStandby || tried&(1<<n.idx) != 0 ||
			(maxLag > 0 && n.lag > maxLag) || (maxBytes > 0 && n.lagBytes > maxBytes) || n.lsn < need {
			continue
		}
		cand[k] = n
		k++
	}
	if k == 0 {
		return nil, need != 0
	}
	start := int(r.rr.Add(1) % uint64(k))
	best := cand[start]
	switch r.cfg.policy {
	case LeastInFlight:
		for i := 1; i < k; i++ {
			if c := cand[(start+i)%k]; c.inFlight.Load() < best.inFlight.Load() {
				best = c
			}
		}
	case LowestLag:
		for i := 1; i < k; i++ {
			if c := cand[(start+i)%k]; c.lagBytes < best.lagBytes {
				best = c
			}
		}
	}
	return best, false
}

func (r *Router) primaryName() string {
	if p := r.primary.Load(); p != nil {
		return p.name
	}
	return "primary"
}

// wrapQuery routes OpQuery and OpStmtQuery.
func (r *Router) wrapQuery(next middleware.QueryFunc) middleware.QueryFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
		in := intentOf(ctx)
		if in != nil && in.replica && !s.InTx && s.Target == nil && !s.Session.Pinned() {
			return read(r, ctx, s, in, next)
		}
		return onPrimary(r, ctx, s, in, next, true)
	}
}

// wrapExec routes OpExec and OpStmtExec.
func (r *Router) wrapExec(next middleware.ExecFunc) middleware.ExecFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
		in := intentOf(ctx)
		if in != nil && in.replica && !s.InTx && s.Target == nil && !s.Session.Pinned() {
			return read(r, ctx, s, in, next)
		}
		return onPrimary(r, ctx, s, in, next, false)
	}
}

// wrapRowsEnd ends the read-your-writes record of a query that ran on the primary.
func (r *Router) wrapRowsEnd(next middleware.RowsEndFunc) middleware.RowsEndFunc {
	return func(ctx context.Context, e middleware.RowsEnd) error {
		if in := intentOf(ctx); in != nil && in.token != nil && !in.replica {
			in.token.end()
		}
		return next(ctx, e)
	}
}

// read runs a statement marked for a replica: on eligible replicas in turn, then on the
// primary unless the Router was built WithoutFallback.
func read[T any](r *Router, ctx context.Context, s middleware.Statement, in *intent,
	next func(context.Context, middleware.Statement) (T, error)) (T, error) {
	var zero T
	var tried uint64
	var lastErr error
	ryw := false
	for i := 0; i < r.cfg.maxReadTries; i++ {
		n, toPrimary := r.pick(in, tried)
		if n == nil {
			ryw = toPrimary
			break
		}
		tried |= 1 << n.idx
		s2 := s
		s2.Target = &n.target
		var a *attempt
		if r.cfg.readTimeout > 0 {
			a = &attempt{nodeTarget: n.target, deadline: time.Now().Add(r.cfg.readTimeout)}
			s2.Target = a
		}
		v, err := next(ctx, s2)
		if err == nil {
			n.served.Add(1)
			in.setServed(n.name)
			return v, nil
		}
		timedOut := a != nil && ctx.Err() == nil && a.expired()
		if ctx.Err() != nil || (!timedOut && !readRetryable(err)) {
			return zero, err
		}
		if timedOut || pgerror.Classify(err).Connection() {
			r.suspect(n)
		}
		lastErr = err
	}
	if r.cfg.noFallback && !ryw {
		if lastErr != nil {
			return zero, fmt.Errorf("%w: %w", ErrNoReplica, lastErr)
		}
		return zero, ErrNoReplica
	}
	if waited, err := r.awaitPrimary(ctx); err != nil || waited {
		if err == nil {
			err = driver.ErrBadConn // as in onPrimary: nothing was sent
		}
		return zero, err
	}
	v, err := next(ctx, s)
	in.setServed(r.primaryName())
	if err != nil {
		r.primaryError(s, err)
	}
	return v, err
}

// onPrimary runs a statement on the session's backend, the primary: it waits for a primary
// when the monitor knows none, and records writes for read-your-writes.
func onPrimary[T any](r *Router, ctx context.Context, s middleware.Statement, in *intent,
	next func(context.Context, middleware.Statement) (T, error), query bool) (T, error) {
	var zero T
	if !s.InTx && r.watchPrimary {
		waited, err := r.awaitPrimary(ctx)
		if err != nil {
			return zero, err
		}
		if waited {
			// Nothing was sent; the session's backend may be on the lost primary, so let
			// database/sql take another connection.
			return zero, driver.ErrBadConn
		}
	}
	var tok *token
	if in != nil && in.token != nil && !in.replica {
		tok = in.token
		tok.begin()
	}
	v, err := next(ctx, s)
	if in != nil && in.servedBy != nil {
		in.setServed(r.primaryName())
	}
	if err != nil {
		r.primaryError(s, err)
	}
	if tok != nil && (err != nil || !query) {
		tok.end()
	}
	return v, err
}

// primaryError takes the fast signals of an error on the primary session.
func (r *Router) primaryError(s middleware.Statement, err error) {
	switch {
	case pgerror.Classify(err) == pgerror.ReadOnly:
		if _, loaded := r.evictSessions.LoadOrStore(s.Session.ID(), struct{}{}); !loaded {
			r.evicting.Add(1)
		}
		for _, n := range r.nodes {
			n.poke()
		}
	case pgerror.Classify(err).Connection():
		if p := r.primary.Load(); p != nil {
			p.poke()
		}
	}
}
