package pooldiag

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgprovider/pgprovider/middleware"
)

// Kinds of hold reported in [Leak.Kind].
const (
	KindTx   = "transaction" // a transaction open on the connection
	KindRows = "rows"        // a result set not closed
	KindConn = "conn"        // checked out of the pool and not returned (a *sql.Conn never closed)
)

// Leak describes a connection held longer than the threshold.
type Leak struct {
	SessionID  uint64
	BackendPID uint32
	Kind       string        // KindTx, KindRows or KindConn
	Since      time.Time     // when the hold began
	Held       time.Duration // how long it had been held when reported
	Stack      string        // the call that took the connection, one "function\n\tfile:line" per frame
}

type hold struct {
	since time.Time
	pcs   []uintptr
}

func (h *hold) active() bool { return !h.since.IsZero() }

type session struct {
	pid uint32
	out hold // checkout (hook mode)
	// weak marks a checkout seen only as a Connect: database/sql's opener goroutine may have
	// opened the connection for its idle list. It counts once a statement runs on it, with
	// that statement's stack.
	weak     bool
	tx       hold
	rows     hold
	nrows    int
	reported [3]time.Time // since of the last reported hold, per kind
}

// Monitor is a leak-detecting middleware. Build it with [New]; close it (or the Connector,
// which closes its middleware) to stop its scanner.
type Monitor struct {
	cfg      config
	mu       sync.Mutex
	sessions map[uint64]*session
	hooked   atomic.Bool
	db       atomic.Pointer[sql.DB]

	leaks, exhaustions atomic.Uint64
	lastWaits          int64
	lastWaitDur        time.Duration

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New returns a Monitor and starts its scanner goroutine, which checks holds every
// threshold/4 (at least every 10 ms).
func New(opts ...Option) *Monitor {
	cfg := config{threshold: 30 * time.Second, logger: slog.Default(), stacks: true, depth: 32}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.interval == 0 {
		cfg.interval = max(cfg.threshold/4, 10*time.Millisecond)
	}
	m := &Monitor{cfg: cfg, sessions: map[uint64]*session{}, stop: make(chan struct{}), done: make(chan struct{})}
	go m.loop()
	return m
}

// Wrappers tracks checkouts, transactions and result sets per session; its rank places the
// Monitor with the observability middleware, outermost.
func (m *Monitor) Wrappers(middleware.Connector) middleware.Wrappers {
	return middleware.Wrappers{
		Rank:         middleware.RankObserve,
		Release:      m.wrapRelease,
		Connect:      m.wrapConnect,
		ResetSession: m.wrapResetSession,
		Begin:        m.wrapBegin,
		Commit:       m.wrapEndTx,
		Rollback:     m.wrapEndTx,
		Exec:         m.wrapExec,
		Query:        m.wrapQuery,
		Ping:         m.wrapPing,
		Prepare:      m.wrapPrepare,
		RowsEnd:      m.wrapRowsEnd,
	}
}

// WatchPool makes every scan sample db.Stats() and report pool exhaustion (requests that
// waited for a connection) through the logger and [Stats].
func (m *Monitor) WatchPool(db *sql.DB) {
	m.mu.Lock()
	st := db.Stats()
	m.lastWaits, m.lastWaitDur = st.WaitCount, st.WaitDuration
	m.mu.Unlock()
	m.db.Store(db)
}

// Close stops the scanner. It is idempotent.
func (m *Monitor) Close() error {
	m.closeOnce.Do(func() { close(m.stop) })
	<-m.done
	return nil
}

func (m *Monitor) loop() {
	defer close(m.done)
	t := time.NewTicker(m.cfg.interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.Check()
		}
	}
}

func (m *Monitor) stack() []uintptr {
	if !m.cfg.stacks {
		return nil
	}
	pcs := make([]uintptr, m.cfg.depth)
	return pcs[:runtime.Callers(3, pcs)]
}

// get returns the session entry, creating it; m.mu is held.
func (m *Monitor) get(s middleware.Session) *session {
	e := m.sessions[s.ID()]
	if e == nil {
		e = &session{}
		m.sessions[s.ID()] = e
	}
	if pid := s.Backend().PID; pid != 0 {
		e.pid = pid
	}
	return e
}

// tidy drops an entry that holds nothing, unless the release hook tracks checkouts; m.mu is held.
func (m *Monitor) tidy(id uint64, e *session) {
	if !e.tx.active() && !e.rows.active() && (!m.hooked.Load() || !e.out.active()) {
		delete(m.sessions, id)
	}
}

func (m *Monitor) checkout(s middleware.Session, weak bool) {
	if !m.hooked.Load() {
		return
	}
	pcs := m.stack()
	m.mu.Lock()
	e := m.get(s)
	if !e.out.active() {
		e.out, e.weak = hold{since: time.Now(), pcs: pcs}, weak
	}
	m.mu.Unlock()
}

// used records the first statement-level use after a checkout whose stack may not be the
// caller's (a connection opened by database/sql's opener goroutine for a waiter). pcs, when
// nil, is captured here, and only when needed.
func (m *Monitor) used(s middleware.Session, pcs []uintptr) {
	if !m.hooked.Load() {
		return
	}
	m.mu.Lock()
	e := m.sessions[s.ID()]
	weak := e != nil && e.weak
	m.mu.Unlock()
	if !weak {
		return
	}
	if pcs == nil {
		pcs = m.stack()
	}
	m.mu.Lock()
	if e := m.sessions[s.ID()]; e != nil && e.weak {
		e.out.pcs, e.weak = pcs, false
	}
	m.mu.Unlock()
}

// wrapRelease tracks OpRelease, which the driver runs from IsValid when database/sql puts the
// session back in its pool. The chain calls wrapRelease once, when it is built: that switches
// tracking of whole checkouts on (a Monitor whose wrappers are never composed into a chain
// tracks only transactions and result sets).
func (m *Monitor) wrapRelease(next middleware.CallFunc) middleware.CallFunc {
	m.hooked.Store(true)
	return func(ctx context.Context, c middleware.Call) error {
		id := c.Session.ID()
		m.mu.Lock()
		if e := m.sessions[id]; e != nil {
			e.out = hold{}
			m.tidy(id, e)
		}
		m.mu.Unlock()
		return next(ctx, c)
	}
}

// failed forgets a session that database/sql is about to close: an operation returned
// driver.ErrBadConn outside a transaction (inside one, the *sql.Tx keeps the connection until
// it is rolled back).
func (m *Monitor) failed(s middleware.Session, err error) {
	if err == nil || !errors.Is(err, driver.ErrBadConn) || s.InTx() {
		return
	}
	m.mu.Lock()
	delete(m.sessions, s.ID())
	m.mu.Unlock()
}

// wrapConnect records a checkout of a new connection (a connect on a known session is the
// replacement of its backend, not a checkout).
func (m *Monitor) wrapConnect(next middleware.CallFunc) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error {
		err := next(ctx, c)
		if err == nil {
			m.mu.Lock()
			_, known := m.sessions[c.Session.ID()]
			m.mu.Unlock()
			if !known {
				m.checkout(c.Session, true)
			}
		}
		return err
	}
}

// wrapResetSession records the checkout of a pooled connection.
func (m *Monitor) wrapResetSession(next middleware.CallFunc) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error {
		m.checkout(c.Session, false)
		err := next(ctx, c)
		m.failed(c.Session, err)
		return err
	}
}

// wrapBegin records an open transaction.
func (m *Monitor) wrapBegin(next middleware.BeginFunc) middleware.BeginFunc {
	return func(ctx context.Context, b middleware.Begin) error {
		err := next(ctx, b)
		m.failed(b.Session, err)
		if err == nil {
			pcs := m.stack()
			m.used(b.Session, pcs)
			m.mu.Lock()
			m.get(b.Session).tx = hold{since: time.Now(), pcs: pcs}
			m.mu.Unlock()
		}
		return err
	}
}

func (m *Monitor) endTx(next middleware.CallFunc) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error {
		err := next(ctx, c)
		m.mu.Lock()
		if e := m.sessions[c.Session.ID()]; e != nil {
			e.tx = hold{}
			m.tidy(c.Session.ID(), e)
		}
		m.mu.Unlock()
		return err
	}
}

// wrapEndTx records the end of a transaction at COMMIT and ROLLBACK.
func (m *Monitor) wrapEndTx(next middleware.CallFunc) middleware.CallFunc { return m.endTx(next) }

// wrapExec records the first use of a checkout.
func (m *Monitor) wrapExec(next middleware.ExecFunc) middleware.ExecFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Result, error) {
		m.used(s.Session, nil)
		res, err := next(ctx, s)
		m.failed(s.Session, err)
		return res, err
	}
}

// wrapQuery records an open result set.
func (m *Monitor) wrapQuery(next middleware.QueryFunc) middleware.QueryFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Rows, error) {
		rows, err := next(ctx, s)
		m.failed(s.Session, err)
		if err == nil {
			pcs := m.stack()
			m.used(s.Session, pcs)
			m.mu.Lock()
			e := m.get(s.Session)
			if e.nrows == 0 {
				e.rows = hold{since: time.Now(), pcs: pcs}
			}
			e.nrows++
			m.mu.Unlock()
		}
		return rows, err
	}
}

// wrapPing forgets a session whose ping found it broken.
func (m *Monitor) wrapPing(next middleware.CallFunc) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error {
		err := next(ctx, c)
		m.failed(c.Session, err)
		return err
	}
}

// wrapPrepare forgets a session whose prepare found it broken.
func (m *Monitor) wrapPrepare(next middleware.PrepareFunc) middleware.PrepareFunc {
	return func(ctx context.Context, s middleware.Statement) (driver.Stmt, error) {
		st, err := next(ctx, s)
		m.failed(s.Session, err)
		return st, err
	}
}

// wrapRowsEnd records the end of a result set.
func (m *Monitor) wrapRowsEnd(next middleware.RowsEndFunc) middleware.RowsEndFunc {
	return func(ctx context.Context, r middleware.RowsEnd) error {
		id := r.Statement.Session.ID()
		m.mu.Lock()
		if e := m.sessions[id]; e != nil && e.nrows > 0 {
			if e.nrows--; e.nrows == 0 {
				e.rows = hold{}
				m.tidy(id, e)
			}
		}
		m.mu.Unlock()
		return next(ctx, r)
	}
}

// Held returns every hold older than min (min 0: all of them), in no particular order.
func (m *Monitor) Held(min time.Duration) []Leak {
	now := time.Now()
	var out []Leak
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, e := range m.sessions {
		for _, k := range e.kinds() {
			if d := now.Sub(k.h.since); d >= min {
				out = append(out, Leak{SessionID: id, BackendPID: e.pid, Kind: k.name, Since: k.h.since, Held: d, Stack: format(k.h.pcs)})
			}
		}
	}
	return out
}

type kindHold struct {
	i    int
	name string
	h    hold
}

// kinds returns the active holds of a session. A checkout is only listed while nothing more
// specific (a transaction, a result set) holds the connection, so a leaked *sql.Tx is reported
// once, as a transaction.
func (e *session) kinds() []kindHold {
	var ks []kindHold
	specific := e.tx.active() || e.rows.active()
	for i, k := range [...]kindHold{{0, KindConn, e.out}, {1, KindTx, e.tx}, {2, KindRows, e.rows}} {
		if k.h.active() && (i != 0 || !e.weak && !specific) {
			k.i = i
			ks = append(ks, k)
		}
	}
	return ks
}

// Check scans the holds now (the scanner calls it periodically) and returns the leaks found
// by this scan, each reported once. It also reports pool exhaustion when [Monitor.WatchPool]
// was called.
func (m *Monitor) Check() []Leak {
	now := time.Now()
	var found []Leak
	m.mu.Lock()
	for id, e := range m.sessions {
		for _, k := range e.kinds() {
			if d := now.Sub(k.h.since); d >= m.cfg.threshold && !e.reported[k.i].Equal(k.h.since) {
				e.reported[k.i] = k.h.since
				found = append(found, Leak{SessionID: id, BackendPID: e.pid, Kind: k.name, Since: k.h.since, Held: d, Stack: format(k.h.pcs)})
			}
		}
	}
	var waits int64
	var waited time.Duration
	var st sql.DBStats
	if db := m.db.Load(); db != nil {
		st = db.Stats()
		waits, waited = st.WaitCount-m.lastWaits, st.WaitDuration-m.lastWaitDur
		m.lastWaits, m.lastWaitDur = st.WaitCount, st.WaitDuration
	}
	m.mu.Unlock()
	for _, l := range found {
		m.leaks.Add(1)
		m.cfg.logger.Warn("pgprovider: connection held longer than the threshold",
			"kind", l.Kind, "held", l.Held.Round(time.Millisecond), "threshold", m.cfg.threshold,
			"session", l.SessionID, "backend_pid", l.BackendPID, "stack", l.Stack)
		if m.cfg.onLeak != nil {
			m.cfg.onLeak(l)
		}
	}
	if waits > 0 {
		m.exhaustions.Add(1)
		m.cfg.logger.Warn("pgprovider: connection pool exhausted: requests waited for a connection",
			"waits", waits, "waited", waited, "in_use", st.InUse, "max_open", st.MaxOpenConnections)
	}
	return found
}

// Stats is a snapshot of the Monitor's counters and, with [Monitor.WatchPool], the pool's.
type Stats struct {
	Held        int         // holds currently tracked (transactions, result sets, checkouts)
	Leaks       uint64      // holds reported as leaks since New
	Exhaustions uint64      // scans that saw requests wait for a connection
	Pool        sql.DBStats // db.Stats() (WaitCount, WaitDuration, InUse, ...); zero without WatchPool
}

// Stats returns the current counters.
func (m *Monitor) Stats() Stats {
	st := Stats{Leaks: m.leaks.Load(), Exhaustions: m.exhaustions.Load()}
	m.mu.Lock()
	for _, e := range m.sessions {
		st.Held += len(e.kinds())
	}
	m.mu.Unlock()
	if db := m.db.Load(); db != nil {
		st.Pool = db.Stats()
	}
	return st
}

// format renders the frames of pcs, leaving out database/sql, pgprovider's driver and
// middleware, and this package, so that the first frame is the caller's code.
func format(pcs []uintptr) string {
	if len(pcs) == 0 {
		return ""
	}
	var b strings.Builder
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		if !internal(f.Function) {
			b.WriteString(f.Function)
			b.WriteString("\n\t")
			b.WriteString(f.File)
			b.WriteByte(':')
			b.WriteString(itoa(f.Line))
			b.WriteByte('\n')
		}
		if !more {
			break
		}
	}
	return b.String()
}

func internal(fn string) bool {
	for _, p := range []string{"database/sql.", "github.com/pgprovider/pgprovider.", "github.com/pgprovider/pgprovider/middleware.",
		"github.com/pgprovider/pgprovider/pooldiag.", "runtime.", "context."} {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}

func itoa(n int) string {
	var buf [20]byte
	i := len(buf)
	for n >= 10 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	i--
	buf[i] = byte('0' + n)
	return string(buf[i:])
}
