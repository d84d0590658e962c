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
	l.lastActivity.Store(time.Now().UnixNano())

	waitCtx, cancelWait := l.waitContext()
	defer func() { cancelWait() }()
	for {
		l.mu.Lock()
		if l.dirty {
			l.mu.Unlock()
			if err := l.reconcile(conn, listening, lostErr, lostAt); err != nil {
				return true, err
			}
			continue
		}
		l.cancelWait = cancelWait
		l.mu.Unlock()
		err := conn.WaitForNotification(waitCtx)
		l.mu.Lock()
		l.cancelWait = nil
		l.mu.Unlock()
		if err == nil {
			continue
		}
		if l.runCtx.Err() != nil {
			return true, ErrListenerClosed
		}
		cause := waitCtx.Err()
		if conn.IsClosed() || cause == nil {
			return true, err
		}
		cancelWait()
		if cause == context.DeadlineExceeded {
			idle := time.Since(time.Unix(0, l.lastActivity.Load()))
			if idle >= l.cfg.pingInterval {
				if err := l.ping(conn); err != nil {
					return true, err
				}
			}
		}
		waitCtx, cancelWait = l.waitContext()
	}
}

// waitContext bounds one wait by the time left before the connection counts as idle.
func (l *Listener) waitContext() (context.Context, context.CancelFunc) {
	if l.cfg.pingInterval <= 0 {
		return context.WithCancel(l.runCtx)
	}
	deadline := time.Unix(0, l.lastActivity.Load()).Add(l.cfg.pingInterval)
	if time.Until(deadline) < time.Millisecond {
		deadline = time.Now().Add(l.cfg.pingInterval)
	}
	return context.WithDeadline(l.runCtx, deadline)
}

func (l *Listener) ping(conn *pgconn.PgConn) error {
	ctx, cancel := context.WithTimeout(l.runCtx, l.cfg.pingTimeout)
	defer cancel()
	l.stats.pings.Add(1)
	if err := conn.Ping(ctx); err != nil {
		l.stats.pingFailures.Add(1)
		return err
	}
	l.lastActivity.Store(time.Now().UnixNano())
	return nil
}

func (l *Listener) exec(conn *pgconn.PgConn, sql string) error {
	ctx, cancel := context.WithTimeout(l.runCtx, l.cfg.opTimeout)
	defer cancel()
	_, err := conn.Exec(ctx, sql).ReadAll()
	if err == nil {
		l.lastActivity.Store(time.Now().UnixNano())
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
			l.mu.Unlock()
		}
	}
}
