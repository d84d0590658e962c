package oldlisten

import (
	"context"
	"errors"
	"fmt"
	"net"
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
				conn.close()
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
		l.mu.Lock()
		l.cur = nil
		l.mu.Unlock()
		conn.close()
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

// dial opens a connection with pgconn (authentication, TLS, multi-host, target_session_attrs)
// and takes it over for the listener's own reader.
func (l *Listener) dial() (*wire, error) {
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
	pc, err := pgconn.ConnectConfig(ctx, &cfg.Config)
	if err != nil {
		return nil, err
	}
	if err := pc.SyncConn(ctx); err != nil {
		closePg(pc)
		return nil, err
	}
	hc, err := pc.Hijack()
	if err != nil {
		closePg(pc)
		return nil, err
	}
	w := newWire(hc)
	l.mu.Lock()
	l.cur = w.conn // Close interrupts any read or write on it from now on
	closing := l.runCtx.Err() != nil
	l.mu.Unlock()
	if closing {
		w.close()
		return nil, ErrListenerClosed
	}
	return w, nil
}

func closePg(pc *pgconn.PgConn) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_ = pc.Close(ctx)
}

// serve LISTENs every subscribed channel on conn, then waits for notifications, applies
// channel changes and pings when idle, until the connection fails or the listener closes.
// established reports whether the initial LISTENs succeeded.
func (l *Listener) serve(conn *wire, lostErr error, lostAt time.Time) (established bool, err error) {
	listening := map[string]bool{}
	l.mu.Lock()
	l.pid = conn.pid
	l.mu.Unlock()
	if err := l.reconcile(conn, listening, lostErr, lostAt); err != nil {
		return false, err
	}
	l.stats.connects.Add(1)
	l.mu.Lock()
	l.connected = true
	l.mu.Unlock()
	l.state(State{Kind: StateConnected, BackendPID: conn.pid})
	l.act.touch()
	l.act.seen = l.stats.received.Load()

	nc := conn.conn
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
		// The hot loop: no context, no lock, no allocation but the payload.
		err := l.wait(conn)
		l.mu.Lock()
		l.waiting = nil
		l.mu.Unlock()
		if l.runCtx.Err() != nil {
			return true, ErrListenerClosed
		}
		if !isTimeout(err) {
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

// wait reads notifications until a read fails: a timeout (the idle deadline or a wake-up,
// after which the stream is intact) or a lost connection. A message the server sends on its
// own other than a notification is either harmless (ParameterStatus, NoticeResponse) or an
// error that ends the session (terminated, shut down).
func (l *Listener) wait(conn *wire) error {
	for {
		typ, body, err := conn.next()
		if err != nil {
			return err
		}
		switch typ {
		case 'A':
			l.deliver(body)
		case 'E':
			err := parseError(body)
			conn.done()
			return err
		case 'S', 'N':
		default:
			return fmt.Errorf("%w: %q while waiting", errProtocol, typ)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
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
// by deliver, and the count is looked at only when a wait ends.
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

func (l *Listener) ping(conn *wire) error {
	l.stats.pings.Add(1)
	if err := l.query(conn, "", l.cfg.pingTimeout); err != nil {
		l.stats.pingFailures.Add(1)
		return err
	}
	return nil
}

func (l *Listener) exec(conn *wire, sql string) error { return l.query(conn, sql, l.cfg.opTimeout) }

// query runs sql on conn, bounded by timeout and interrupted by Close.
func (l *Listener) query(conn *wire, sql string, timeout time.Duration) error {
	if err := conn.conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	// Close moves the deadline into the past once the run context is cancelled: checking
	// after setting ours means it cannot be overwritten unseen.
	if l.runCtx.Err() != nil {
		return ErrListenerClosed
	}
	err := conn.query(sql, l.deliver)
	if l.runCtx.Err() != nil {
		return ErrListenerClosed
	}
	var pgErr *pgconn.PgError
	if err == nil || errors.As(err, &pgErr) {
		l.act.touch()
	}
	return err
}

// reconcile runs LISTEN and UNLISTEN until the channels LISTENed on conn match the
// subscribed ones. After a LISTEN is acknowledged, new subscriptions get their initial gap
// and subscriptions that lived through a lost connection get a reconnect gap.
func (l *Listener) reconcile(conn *wire, listening map[string]bool, lostErr error, lostAt time.Time) error {
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
			if err != nil && !errors.As(err, &pgErr) {
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
