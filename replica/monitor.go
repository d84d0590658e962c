package replica

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Role is what a node is, as of its last successful probe.
type Role int

// The roles.
const (
	RoleUnknown Role = iota // never probed successfully
	RolePrimary             // not in recovery
	RoleStandby             // in recovery (a streaming replica)
)

// String returns the role's name.
func (r Role) String() string {
	switch r {
	case RolePrimary:
		return "primary"
	case RoleStandby:
		return "standby"
	}
	return "unknown"
}

// node is one PostgreSQL server of the cluster. Its probe state is written by its own monitor
// goroutine under Router.mu; counters are atomic.
type node struct {
	idx      int
	name     string // host:port
	probeCfg *pgx.ConnConfig
	pool     *pool
	target   nodeTarget // the node's routing target without a per-attempt timeout
	kick     chan struct{}

	conn *pgx.Conn // probe connection, owned by the node's goroutine

	// Guarded by Router.mu.
	known     bool
	up        bool
	suspect   bool
	role      Role
	fails     int
	oks       int
	lsn       uint64 // primary: current WAL LSN; standby: replay LSN
	timeline  uint32
	lagBytes  uint64
	lag       time.Duration
	lastProbe time.Time
	evictPIDs map[uint32]struct{}
	evictAt   time.Time // when evictPIDs was set

	wasPrimary bool // the last good probe found the elected primary (monitor goroutine only)

	probes   atomic.Uint64
	failures atomic.Uint64
	inFlight atomic.Int64
	served   atomic.Uint64
	flips    atomic.Uint64 // health transitions (up ↔ down)
}

func (n *node) poke() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

func (n *node) closeProbe() {
	if n.conn != nil {
		_ = n.conn.Close(context.Background())
		n.conn = nil
	}
}

// sample is one primary WAL position, taken when a probe of the primary started.
type sample struct {
	t         time.Time
	lsn       uint64 // pg_current_wal_lsn
	insertLSN uint64 // pg_current_wal_insert_lsn
}

const ringSize = 256

// ring holds the last primary samples, oldest first from start.
type ring struct {
	buf   [ringSize]sample
	start int
	n     int
}

func (r *ring) push(s sample) {
	if r.n > 0 && r.at(r.n-1).lsn > s.lsn {
		r.n, r.start = 0, 0 // a new primary on an older position: the old history is meaningless
	}
	if r.n < ringSize {
		r.buf[(r.start+r.n)%ringSize] = s
		r.n++
		return
	}
	r.buf[r.start] = s
	r.start = (r.start + 1) % ringSize
}

func (r *ring) at(i int) *sample { return &r.buf[(r.start+i)%ringSize] }

// lag returns how far a standby whose replay position was replay at time t is behind: bytes
// against the newest sample taken at or before t, and time since the oldest sample the
// standby had not replayed.
func (r *ring) lag(replay uint64, t time.Time) (uint64, time.Duration) {
	if r.n == 0 {
		return 0, 0
	}
	ref := r.at(r.n - 1)
	for i := r.n - 1; i >= 0; i-- {
		if s := r.at(i); !s.t.After(t) {
			ref = s
			break
		}
	}
	if replay >= ref.lsn {
		return 0, 0
	}
	bytes := ref.lsn - replay
	for i := 0; i < r.n; i++ {
		if s := r.at(i); s.lsn > replay {
			if d := t.Sub(s.t); d > 0 {
				return bytes, d
			}
			return bytes, 0
		}
	}
	return bytes, 0
}

// insertAfter returns the WAL insert position of the oldest sample taken after t.
func (r *ring) insertAfter(t int64) (uint64, bool) {
	for i := 0; i < r.n; i++ {
		if s := r.at(i); s.t.UnixNano() > t {
			return s.insertLSN, true
		}
	}
	return 0, false
}

// probeSQL reads, in one round trip: whether the node is in recovery, its WAL position
// (current and insert on a primary, replay on a standby) and a primary's timeline.
const probeSQL = `SELECT r,
 (CASE WHEN r THEN coalesce(pg_last_wal_replay_lsn(), '0/0') ELSE pg_current_wal_lsn() END - '0/0'::pg_lsn)::int8,
 (CASE WHEN r THEN coalesce(pg_last_wal_replay_lsn(), '0/0') ELSE pg_current_wal_insert_lsn() END - '0/0'::pg_lsn)::int8,
 CASE WHEN r THEN '' ELSE pg_walfile_name(pg_current_wal_lsn()) END
FROM pg_is_in_recovery() r`

// pidsSQL lists the client backends of a node that stopped being the primary.
const pidsSQL = `SELECT coalesce(array_agg(pid), '{}') FROM pg_stat_activity
 WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`

type probeResult struct {
	start      time.Time
	err        error
	inRecovery bool
	lsn        uint64
	insert     uint64
	timeline   uint32
}

func (r *Router) probe(n *node) probeResult {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.timeout)
	defer cancel()
	res := probeResult{start: time.Now()}
	n.probes.Add(1)
	if n.conn == nil || n.conn.IsClosed() {
		cfg := n.probeCfg
		if r.beforeProbe != nil {
			cfg = cfg.Copy()
			if err := r.beforeProbe(ctx, cfg); err != nil {
				res.err = err
				return res
			}
		}
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			res.err = err
			return res
		}
		n.conn = c
		res.start = time.Now()
	}
	var lsn, ins int64
	var wal string
	err := n.conn.QueryRow(ctx, probeSQL, pgx.QueryExecModeSimpleProtocol).Scan(&res.inRecovery, &lsn, &ins, &wal)
	if err != nil {
		_ = n.conn.Close(context.Background())
		n.conn = nil
		res.err = err
		return res
	}
	res.lsn, res.insert = uint64(lsn), uint64(ins)
	if len(wal) >= 8 {
		tl, _ := strconv.ParseUint(wal[:8], 16, 32)
		res.timeline = uint32(tl)
	}
	return res
}

// clientPIDs lists the client backends of n over its probe connection.
func (r *Router) clientPIDs(n *node) map[uint32]struct{} {
	if n.conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.timeout)
	defer cancel()
	var pids []int32
	if err := n.conn.QueryRow(ctx, pidsSQL, pgx.QueryExecModeSimpleProtocol).Scan(&pids); err != nil {
		return nil
	}
	m := make(map[uint32]struct{}, len(pids))
	for _, p := range pids {
		m[uint32(p)] = struct{}{}
	}
	return m
}

// loop probes n until the Router closes.
func (r *Router) loop(n *node) {
	defer r.wg.Done()
	t := time.NewTimer(r.cfg.interval)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-r.done:
			n.closeProbe()
			return
		case <-t.C:
		case <-n.kick:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
			// Fast signals come in bursts (every failed statement pokes): probe at most
			// every interval/10.
			if gap := r.cfg.interval/10 - time.Since(last); gap > 0 {
				t.Reset(gap)
				select {
				case <-r.done:
					n.closeProbe()
					return
				case <-t.C:
				}
			}
		}
		last = time.Now()
		falling := r.update(n, r.probe(n))
		d := r.cfg.interval
		if falling || (r.watchPrimary && r.primary.Load() == nil) {
			d = max(d/4, time.Millisecond)
		}
		t.Reset(d)
	}
}

// update records a probe result and re-elects the primary. It reports whether the node is
// failing but not yet down, so that it is probed sooner (as are all nodes while no primary
// is known).
func (r *Router) update(n *node, res probeResult) bool {
	falling := r.record(n, res)
	r.mu.RLock()
	stray := res.err == nil && n.role == RolePrimary && r.primary.Load() != n
	r.mu.RUnlock()
	if demoted := res.err == nil && res.inRecovery && n.wasPrimary; demoted || stray {
		// Demoted, or a primary that lost a split brain: its client backends are evicted when
		// database/sql next reuses them (see wrapResetSession).
		pids := r.clientPIDs(n)
		r.mu.Lock()
		r.setEvictPIDsLocked(n, pids)
		r.mu.Unlock()
	}
	if res.err == nil {
		n.wasPrimary = n.role == RolePrimary && !stray
	}
	return falling
}

// setEvictPIDsLocked sets the client PIDs to evict on n and keeps r.evicting counting the
// nodes that have some. r.mu is held.
func (r *Router) setEvictPIDsLocked(n *node, pids map[uint32]struct{}) {
	if (n.evictPIDs != nil) != (pids != nil) {
		if pids != nil {
			r.evicting.Add(1)
		} else {
			r.evicting.Add(-1)
		}
	}
	n.evictPIDs = pids
	n.evictAt = time.Now()
}

// evictFor is how long a demoted node's client PIDs stay marked for eviction: long enough
// for database/sql to reuse (and so evict) every pooled session on it, after which the
// checks go back to costing nothing.
const evictFor = time.Minute

func (r *Router) record(n *node, res probeResult) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	n.lastProbe = res.start
	if res.err != nil {
		n.failures.Add(1)
		n.oks = 0
		n.fails++
		if !n.known || (n.up && n.fails >= r.cfg.fall) {
			if n.up {
				n.flips.Add(1)
			}
			n.up, n.known = false, true
			if n.pool != nil {
				n.pool.flush()
			}
		}
		r.elect()
		return n.up
	}
	n.fails = 0
	n.oks++
	n.suspect = false
	if !n.known || (!n.up && n.oks >= r.cfg.rise) {
		if n.known {
			n.flips.Add(1)
		}
		n.up, n.known = true, true
	}
	n.role = RolePrimary
	if res.inRecovery {
		n.role = RoleStandby
	}
	n.lsn, n.timeline = res.lsn, res.timeline
	r.elect()
	switch {
	case n.role == RolePrimary && r.primary.Load() == n:
		r.ring.push(sample{t: res.start, lsn: res.lsn, insertLSN: res.insert})
		n.lagBytes, n.lag = 0, 0
		r.setEvictPIDsLocked(n, nil)
	case n.role == RoleStandby:
		n.lagBytes, n.lag = r.ring.lag(res.lsn, res.start)
		if n.evictPIDs != nil && time.Since(n.evictAt) > max(evictFor, 20*r.cfg.interval) {
			r.setEvictPIDsLocked(n, nil)
		}
	}
	return false
}

// elect chooses the primary among the nodes that are up and not in recovery: the one on the
// highest timeline; none on a tie (split brain: writes fail closed). Called with r.mu held.
func (r *Router) elect() {
	var best *node
	tie := false
	for _, n := range r.nodes {
		if !n.up || n.role != RolePrimary {
			continue
		}
		switch {
		case best == nil || n.timeline > best.timeline:
			best, tie = n, false
		case n.timeline == best.timeline:
			tie = true
		}
	}
	if tie {
		best = nil
	}
	r.splitBrain = tie
	if old := r.primary.Load(); old != best {
		r.primary.Store(best)
		r.changes++
		close(r.changed)
		r.changed = make(chan struct{})
	}
}

// awaitPrimary waits until the monitor knows a primary, for at most the primary wait. It
// reports whether it had to wait.
func (r *Router) awaitPrimary(ctx context.Context) (waited bool, err error) {
	if !r.watchPrimary || r.primary.Load() != nil {
		return false, nil
	}
	for _, n := range r.nodes {
		n.poke()
	}
	deadline := time.NewTimer(r.cfg.primaryWait)
	defer deadline.Stop()
	for {
		r.mu.RLock()
		p, ch := r.primary.Load(), r.changed
		r.mu.RUnlock()
		if p != nil {
			return true, nil
		}
		select {
		case <-ch:
		case <-deadline.C:
			return true, ErrNoPrimary
		case <-ctx.Done():
			return true, ctx.Err()
		case <-r.done:
			return true, errClosed
		}
	}
}

var errClosed = errors.New("replica: router closed")
