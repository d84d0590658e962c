package listen

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider/pgerror"
)

// run is the reader goroutine: dial, LISTEN, wait for notifications, reconnect forever.
func (l *Listener) run() {
	defer close(l.done)
	failures := 0
	var delay time.Duration // before the next dial
	var lostErr error
	var lostAt time.Time
	for {
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-l.runCtx.Done():
				t.Stop()
				return
			}
		}
		c, err := l.dial()
		if l.runCtx.Err() != nil {
			if c != nil {
				c.close()
			}
			return
		}
		if err != nil {
			failures++
			delay = l.cfg.backoff(failures)
			l.stats.dialErrors.Add(1)
			l.dialFailed(err)
			l.state(State{Err: err, Attempt: failures + 1, Delay: delay})
			continue
		}
		established, err := l.serve(c, lostErr, lostAt)
		c.close()
		l.mu.Lock()
		l.connected, l.pid, l.lastErr = false, 0, err
		l.resetChannelsLocked() // a Subscribe now waits for the LISTEN on the next connection
		l.releaseWaitersLocked()
		l.mu.Unlock()
		if l.runCtx.Err() != nil {
			return
		}
		if established { // the first dial after a lost connection is immediate
			failures, delay = 0, 0
			lostErr, lostAt = err, time.Now()
		} else {
			failures++
			delay = l.cfg.backoff(failures)
		}
		l.state(State{Err: err, Attempt: failures + 1, Delay: delay})
	}
}

// dialFailed records a failed dial. When retrying cannot fix it (pgerror classes
// Authentication and NoDatabase: a wrong password or user, no pg_hba.conf entry, a database
// that does not exist), the waiting Subscribe calls return it, and so do new ones until a
// dial succeeds or fails otherwise.
func (l *Listener) dialFailed(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastErr = err
	switch pgerror.Classify(err) {
	case pgerror.Authentication, pgerror.NoDatabase:
	default:
		l.permErr = nil
		return
	}
	l.permErr = err
	for _, ch := range l.chans {
		if len(ch.pending) == 0 {
			continue
		}
		for _, s := range ch.pending {
			l.refuseLocked(s, err)
		}
		clear(ch.pending)
		ch.pending = nil
		if !ch.wanted() {
			l.nchans--
			if !ch.queued {
				l.deleteChanLocked(ch)
			}
		}
	}
}

// conn is one connection of the listener: pgconn opened it (authentication, TLS, multi-host,
// target_session_attrs) and handed it over (SyncConn, Hijack) to the listener's protocol
// reader (wire.go). Every socket dialed for it is closed when its context is cancelled, so
// that Close interrupts any dial, read or write at once.
type conn struct {
	l      *Listener
	w      *wire
	cancel context.CancelFunc
}

func (l *Listener) dial() (*conn, error) {
	connCtx, cancel := context.WithCancel(l.runCtx)
	pc, err := l.connect(connCtx)
	if err != nil {
		cancel()
		return nil, err
	}
	ctx, cc := context.WithTimeout(connCtx, defaultDialTimeout)
	defer cc()
	if err := pc.SyncConn(ctx); err != nil {
		_ = pc.Close(ctx)
		cancel()
		return nil, err
	}
	hc, err := pc.Hijack()
	if err != nil {
		_ = pc.Close(ctx)
		cancel()
		return nil, err
	}
	return &conn{l: l, w: newWire(hc), cancel: cancel}, nil
}

func (l *Listener) connect(connCtx context.Context) (*pgconn.PgConn, error) {
	cfg := l.base.Copy()
	if l.before != nil {
		ctx, cancel := context.WithTimeout(connCtx, defaultDialTimeout)
		err := l.before(ctx, cfg)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	for _, f := range l.cfg.connCfg {
		f(cfg)
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = defaultAppName
	}
	dial := cfg.DialFunc
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err == nil {
			context.AfterFunc(connCtx, func() { _ = nc.Close() })
		}
		return nc, err
	}
	ctx := connCtx
	if cfg.ConnectTimeout == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(connCtx, defaultDialTimeout)
		defer cancel()
	}
	return pgconn.ConnectConfig(ctx, &cfg.Config)
}

// wait reads the connection until a read fails: a timeout (a deadline of ours, after which
// the stream is intact) or a lost connection. A message the server sends on its own other
// than a notification is either harmless (ParameterStatus, NoticeResponse) or an error that
// ends the session (terminated, shut down).
func (c *conn) wait() error {
	for {
		typ, body, err := c.w.next()
		if err != nil {
			return err
		}
		switch typ {
		case 'A':
			c.l.deliver(body)
		case 'E':
			c.w.done()
			c.w.err = parseError(body) // FATAL: the server closes the connection
			return c.w.err
		case 'S', 'N':
		default:
			c.w.err = fmt.Errorf("%w: %q while waiting", errProtocol, typ)
			return c.w.err
		}
	}
}

// query runs sql as a simple query, bounded by ctx (its deadline, and its cancellation).
// Notifications that arrive meanwhile are delivered.
func (c *conn) query(ctx context.Context, sql string) error {
	dl, _ := ctx.Deadline()
	if err := c.w.conn.SetDeadline(dl); err != nil {
		return err
	}
	defer context.AfterFunc(ctx, func() { _ = c.w.conn.SetDeadline(time.Unix(1, 0)) })()
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.w.query(sql, c.l.deliver)
}

// broken reports whether err, returned by wait or query, left the connection unusable: the
// reader lost the stream (anything but a read timeout in wait, a deadline of ours, or a
// statement the server refused and followed with ReadyForQuery), or pgerror classifies err
// as a connection or server failure.
func (c *conn) broken(err error) bool {
	return c.w.err != nil || pgerror.Classify(err).Connection()
}

// close sends Terminate, best effort and briefly, and closes every socket.
func (c *conn) close() {
	c.w.close()
	c.cancel()
}

// serve LISTENs every subscribed channel on c, then waits for notifications, applies
// channel changes and pings when idle, until the connection fails or the listener closes.
// established reports whether the initial LISTENs succeeded.
func (l *Listener) serve(pc *conn, lostErr error, lostAt time.Time) (established bool, err error) {
	l.mu.Lock()
	l.pid = pc.w.pid
	l.resetChannelsLocked()
	l.mu.Unlock()
	if err := l.reconcile(pc, lostErr, lostAt); err != nil {
		return false, err
	}
	l.stats.connects.Add(1)
	l.mu.Lock()
	l.connected, l.permErr = true, nil
	l.mu.Unlock()
	l.state(State{Connected: true, BackendPID: pc.w.pid})
	l.act.touch()
	l.act.seen = l.stats.received.Load()

	nc := pc.w.conn
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
			if err := l.reconcile(pc, lostErr, lostAt); err != nil {
				return true, err
			}
			continue
		}
		l.waiting = nc
		l.mu.Unlock()
		err := pc.wait()
		l.mu.Lock()
		l.waiting = nil
		l.mu.Unlock()
		if l.runCtx.Err() != nil {
			return true, ErrListenerClosed
		}
		// A read that ended without breaking the connection hit a deadline of ours (a wake-up
		// or the idle check).
		if pc.broken(err) {
			return true, err
		}
		if err := nc.SetReadDeadline(time.Time{}); err != nil {
			return true, err
		}
		l.act.observe(l.stats.received.Load())
		if l.cfg.pingInterval > 0 && l.act.idle() >= l.cfg.pingInterval {
			if err := l.ping(pc); err != nil {
				return true, err
			}
		}
	}
}

// deliver hands a NotificationResponse body, parsed in place, to the channel's active
// subscriptions: one allocation (the payload; the channel name is the channel's own). It runs
// on the reader goroutine, never blocks on a subscriber and takes no lock but the route
// table's read lock.
func (l *Listener) deliver(body []byte) {
	l.stats.received.Add(1) // also the reader's activity signal: no clock read per message
	pid, channel, payload, ok := parseNotification(body)
	if !ok {
		return
	}
	l.rmu.RLock()
	if ch := l.chans[string(channel)]; ch != nil { // no allocation for the lookup
		ev := Event{Channel: ch.name, Payload: string(payload), PID: pid}
		for _, s := range ch.subs {
			if s.push(ev) {
				l.stats.dropped.Add(1)
			}
		}
	}
	l.rmu.RUnlock()
}

// ping runs an empty query bounded by the ping timeout. A ping that fails or times out ends
// the connection, so a half-open connection ends in a reconnect.
func (l *Listener) ping(pc *conn) error {
	l.stats.pings.Add(1)
	ctx, cancel := context.WithTimeout(l.runCtx, l.cfg.pingTimeout)
	defer cancel()
	if err := pc.query(ctx, "-- ping"); err != nil {
		l.stats.pingFailures.Add(1)
		return err
	}
	l.act.touch()
	return nil
}

// interruptLocked ends the reader's current wait, if any, by moving the read deadline into
// the past. l.mu is held.
func (l *Listener) interruptLocked() {
	if l.waiting != nil {
		_ = l.waiting.SetReadDeadline(time.Unix(1, 0))
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
