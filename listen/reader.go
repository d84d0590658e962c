package listen

import (
	"context"
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
		for _, s := range ch.pending {
			l.refuseLocked(s, err)
		}
		ch.pending = nil
		if !ch.wanted() {
			l.nchans--
			if !ch.queued {
				l.deleteChanLocked(ch)
			}
		}
	}
}

// link is one connection of the listener, read by pgconn (pgconnLink) or by the listener's
// own protocol reader after pgconn connected (wireLink). Every socket dialed for it (the
// connection itself, and the one pgconn opens to send a cancel request when it closes the
// connection after an error) is closed when its context is cancelled.
type link interface {
	backendPID() uint32
	netConn() net.Conn                           // for the read deadlines of wake-ups and idle checks
	wait() error                                 // reads until a read fails, delivering notifications
	query(ctx context.Context, sql string) error // a simple query bounded by ctx, delivering notifications
	broken(err error) bool                       // err, from wait or query, left the connection unusable
	close()
}

// dial opens a connection with pgconn (authentication, TLS, multi-host, target_session_attrs).
func (l *Listener) dial() (link, error) {
	connCtx, cancel := context.WithCancel(l.runCtx)
	pc, err := l.connect(connCtx)
	if err != nil {
		cancel()
		return nil, err
	}
	if l.wire {
		return l.hijack(pc, cancel)
	}
	return &pgconnLink{pc: pc, cancel: cancel}, nil
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
	cfg.OnNotification = l.deliver
	dial := cfg.DialFunc
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(connCtx, cancel)()
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

// pgconnLink is a connection read by pgconn: the reader waits in WaitForNotification and
// pgconn hands every notification to deliver (OnNotification).
type pgconnLink struct {
	pc     *pgconn.PgConn
	cancel context.CancelFunc
}

func (c *pgconnLink) backendPID() uint32 { return c.pc.PID() }
func (c *pgconnLink) netConn() net.Conn  { return c.pc.Conn() }

// wait reads the connection until a read fails. With the background context pgconn sets up
// no context watching per call: the hot loop is pgconn's message reader and deliver.
func (c *pgconnLink) wait() error {
	for {
		if err := c.pc.WaitForNotification(context.Background()); err != nil {
			return err
		}
	}
}

func (c *pgconnLink) query(ctx context.Context, sql string) error {
	return c.pc.Exec(ctx, sql).Close()
}

// broken: pgconn closes the connection on every error but a read timeout (which leaves the
// stream intact however much of a message was read) and a statement's error.
func (c *pgconnLink) broken(err error) bool {
	return c.pc.IsClosed() || pgerror.Classify(err).Connection()
}

// close sends Terminate when the connection is still usable, then closes every socket and
// waits (briefly) for pgconn's clean-up.
func (c *pgconnLink) close() {
	if !c.pc.IsClosed() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_ = c.pc.Close(ctx)
		cancel()
	}
	c.cancel()
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-c.pc.CleanupDone():
	case <-t.C:
	}
}

// serve LISTENs every subscribed channel on c, then waits for notifications, applies
// channel changes and pings when idle, until the connection fails or the listener closes.
// established reports whether the initial LISTENs succeeded.
func (l *Listener) serve(pc link, lostErr error, lostAt time.Time) (established bool, err error) {
	l.mu.Lock()
	l.pid = pc.backendPID()
	l.resetChannelsLocked()
	l.mu.Unlock()
	if err := l.reconcile(pc, lostErr, lostAt); err != nil {
		return false, err
	}
	l.stats.connects.Add(1)
	l.mu.Lock()
	l.connected, l.permErr = true, nil
	l.mu.Unlock()
	l.state(State{Connected: true, BackendPID: pc.backendPID()})
	l.act.touch()
	l.act.seen = l.stats.received.Load()

	nc := pc.netConn()
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

// deliver hands a notification to the channel's active subscriptions. It runs on the reader
// goroutine (pgconn's OnNotification), never blocks on a subscriber and takes no lock but
// the route table's read lock.
func (l *Listener) deliver(_ *pgconn.PgConn, n *pgconn.Notification) {
	l.stats.received.Add(1) // also the reader's activity signal: no clock read per message
	l.rmu.RLock()
	if ch := l.chans[n.Channel]; ch != nil {
		for _, s := range ch.subs {
			if s.push(Event{Channel: ch.name, Payload: n.Payload, PID: n.PID}) {
				l.stats.dropped.Add(1)
			}
		}
	}
	l.rmu.RUnlock()
}

// ping runs an empty query bounded by the ping timeout. pgconn closes the connection when it
// fails or times out, so a half-open connection ends in a reconnect.
func (l *Listener) ping(pc link) error {
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
