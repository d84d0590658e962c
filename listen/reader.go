package listen

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// run is the reader goroutine: dial, LISTEN, wait for notifications, reconnect forever.
func (l *Listener) run() {
	defer close(l.done)
	failures := 0
	var lostErr error
	var lostAt time.Time
	for {
		if failures > 0 {
			d := l.cfg.backoff(failures)
			l.state(State{Kind: StateBackoff, Attempt: failures + 1, Delay: d})
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-l.runCtx.Done():
				t.Stop()
				return
			}
		}
		conn, err := l.dial()
		if l.runCtx.Err() != nil {
			if conn != nil {
				closeConn(conn)
			}
			return
		}
		if err != nil {
			failures++
			l.stats.dialErrors.Add(1)
			l.mu.Lock()
			l.lastErr = err
			l.mu.Unlock()
			l.state(State{Kind: StateDisconnected, Err: err})
			continue
		}
		established, err := l.serve(conn, lostErr, lostAt)
		closeConn(conn)
		l.mu.Lock()
		l.active = map[string]bool{}
		l.connected, l.pid, l.lastErr = false, 0, err
		l.releaseWaitersLocked()
		l.mu.Unlock()
		if l.runCtx.Err() != nil {
			return
		}
		if established {
			failures = 0
			lostErr, lostAt = err, time.Now()
		} else {
			failures++
		}
		l.state(State{Kind: StateDisconnected, Err: err})
	}
}

func closeConn(conn *pgconn.PgConn) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_ = conn.Close(ctx)
}

func (l *Listener) dial() (*pgconn.PgConn, error) {
	ctx, cancel := context.WithTimeout(l.runCtx, l.cfg.dialTimeout)
	defer cancel()
	cfg := l.base.Copy()
	if l.before != nil {
		if err := l.before(ctx, cfg); err != nil {
			return nil, err
		}
	}
	for _, f := range l.cfg.connCfg {
		f(cfg)
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok && l.cfg.appName != "" {
		cfg.RuntimeParams["application_name"] = l.cfg.appName
	}
	cfg.OnNotification = l.onNotification
	return pgconn.ConnectConfig(ctx, &cfg.Config)
}

// serve LISTENs every subscribed channel on conn, then waits for notifications, applies
// channel changes and pings when idle, until the connection fails or the listener closes.
// established reports whether the initial LISTENs succeeded.
func (l *Listener) serve(conn *pgconn.PgConn, lostErr error, lostAt time.Time) (established bool, err error) {
	listening := map[string]bool{}
	l.mu.Lock()
	l.pid = conn.PID()
	l.mu.Unlock()
	if err := l.reconcile(conn, listening, lostErr, lostAt); err != nil {
		return false, err
	}
	l.stats.connects.Add(1)
	l.mu.Lock()
	l.connected = true
	l.mu.Unlock()
	l.state(State{Kind: StateConnected, BackendPID: conn.PID()})
	l.act.touch()
	l.act.seen = l.stats.received.Load()

	nc := conn.Conn()
	for {
		// Arm the idle deadline before the wait is published: a wake-up (which moves the
		// deadline into the past) can then never be overwritten.
		if err := nc.SetReadDeadline(l.idleDeadline()); err != nil {
			return true, err
		}
		l.mu.Lock()
		if l.runCtx.Err() != nil {
			l.mu.Unlock()
			return true, ErrListenerClosed
		}
		if l.dirty {
			l.mu.Unlock()
			if err := nc.SetReadDeadline(time.Time{}); err != nil {
				return true, err
			}
			if err := l.reconcile(conn, listening, lostErr, lostAt); err != nil {
				return true, err
			}
			continue
		}
		l.waiting = nc
		l.mu.Unlock()
		// The hot loop: no context (pgconn would set up a watch per message) and no lock.
		// Notifications are handed out by onNotification inside pgconn's receive path.
		var err error
		for err == nil {
			err = conn.WaitForNotification(context.Background())
		}
		l.mu.Lock()
		l.waiting = nil
		l.mu.Unlock()
		if l.runCtx.Err() != nil {
			return true, ErrListenerClosed
		}
		if conn.IsClosed() || !pgconn.Timeout(err) {
			return true, err
		}
		// A wake-up (subscription change) or the idle deadline.
		if err := nc.SetReadDeadline(time.Time{}); err != nil {
			return true, err
		}
		l.act.observe(l.stats.received.Load())
		if l.cfg.pingInterval > 0 && l.act.idle() >= l.cfg.pingInterval {
			if err := l.ping(conn); err != nil {
				return true, err
			}
		}
	}
}

// idleDeadline is when to look at the connection's activity again; zero (no deadline) when
// pings are off.
func (l *Listener) idleDeadline() time.Time {
	if l.cfg.pingInterval <= 0 {
		return time.Time{}
	}
	return l.act.deadline(l.cfg.pingInterval)
}

// activity tracks when the connection last carried a message, for idle pings, without a
// clock read per notification (costly on some virtual machines): notifications are counted
// by onNotification, and the count is looked at only when a wait ends.
type activity struct {
	epoch   time.Time     // monotonic base of the durations below
	last    time.Duration // no message arrived after this (a lower bound: pings come early, never late)
	checked time.Duration // when the count was last looked at
	seen    uint64        // the count then
	flowing bool          // that look found new notifications
}

func (a *activity) now() time.Duration { return time.Since(a.epoch) }

// touch records a message seen now (a connect, a ping or a command's reply).
func (a *activity) touch() {
	t := a.now()
	a.last, a.checked = t, t
}

// observe looks at the notification count n. New ones arrived at some point after the
// previous look, so the connection counts as active from that look on.
func (a *activity) observe(n uint64) {
	a.flowing = n != a.seen
	if a.flowing {
		a.seen = n
		a.last = max(a.last, a.checked)
	}
	a.checked = a.now()
}

// idle is how long the connection has been quiet, at least.
func (a *activity) idle() time.Duration { return a.now() - a.last }

// deadline is when the connection will have been quiet for interval; while notifications
// flow, the count is looked at every interval/8, so a connection that falls silent is pinged
// at most interval/8 late.
func (a *activity) deadline(interval time.Duration) time.Time {
	t := a.now()
	d := a.last + interval
	if a.flowing {
		d = min(d, t+interval/8)
	}
	return a.epoch.Add(max(d, t+time.Millisecond))
}

// interruptLocked ends the reader's current wait, if any, by moving the read deadline into
// the past. l.mu is held.
func (l *Listener) interruptLocked() {
	if l.waiting != nil {
		_ = l.waiting.SetReadDeadline(time.Unix(1, 0))
	}
}

func (l *Listener) ping(conn *pgconn.PgConn) error {
	ctx, cancel := context.WithTimeout(l.runCtx, l.cfg.pingTimeout)
	defer cancel()
	l.stats.pings.Add(1)
	if err := conn.Ping(ctx); err != nil {
		l.stats.pingFailures.Add(1)
		return err
	}
	l.act.touch()
	return nil
}

func (l *Listener) exec(conn *pgconn.PgConn, sql string) error {
	ctx, cancel := context.WithTimeout(l.runCtx, l.cfg.opTimeout)
	defer cancel()
	_, err := conn.Exec(ctx, sql).ReadAll()
	if err == nil {
		l.act.touch()
	}
	return err
}

// reconcile runs LISTEN and UNLISTEN until the channels LISTENed on conn match the
// subscribed ones. After a LISTEN is acknowledged, new subscriptions get their initial gap
// and subscriptions that lived through a lost connection get a reconnect gap.
func (l *Listener) reconcile(conn *pgconn.PgConn, listening map[string]bool, lostErr error, lostAt time.Time) error {
	for {
		l.mu.Lock()
		l.dirty = false
		var add, del []string
		for name := range l.chans {
			if !listening[name] {
				add = append(add, name)
			}
		}
		for name := range listening {
			if len(l.chans[name]) == 0 {
				del = append(del, name)
			}
		}
		if len(add) == 0 && len(del) == 0 {
			l.releaseWaitersLocked()
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		for _, name := range del {
			if err := l.exec(conn, "UNLISTEN "+pgx.Identifier{name}.Sanitize()); err != nil {
				return err
			}
			delete(listening, name)
			l.mu.Lock()
			delete(l.active, name)
			l.mu.Unlock()
		}
		for _, name := range add {
			err := l.exec(conn, "LISTEN "+pgx.Identifier{name}.Sanitize())
			var pgErr *pgconn.PgError
			if err != nil && (!errors.As(err, &pgErr) || conn.IsClosed()) {
				return err
			}
			l.mu.Lock()
			if err != nil {
				refused := false
				for s := range l.chans[name] {
					if s.active {
						continue
					}
					s.err = err
					refused = true
					l.removeLocked(s)
				}
				l.mu.Unlock()
				if !refused {
					return err
				}
				continue
			}
			listening[name] = true
			l.active[name] = true
			for s := range l.chans[name] {
				if s.active {
					s.setGap(GapReconnect, 0, lostErr, lostAt)
				} else {
					s.activateLocked()
				}
			}
			l.rebuildRoutesLocked()
			l.mu.Unlock()
		}
	}
}
