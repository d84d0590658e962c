package replica

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
)

// wrapBegin routes transactions. A read-only transaction begun with UseReplica (and not
// serializable, which standbys refuse) runs whole on one replica connection when an eligible
// replica exists; every other transaction stays on the primary: it waits for one when the
// monitor knows none, and a transaction run with a read-your-writes token is recorded until
// it ends. Code that uses ReadOnly for safety alone keeps reading from the primary.
func (r *Router) wrapBegin(next middleware.BeginFunc) middleware.BeginFunc {
	return func(ctx context.Context, b middleware.Begin) error {
		in := intentOf(ctx)
		if in != nil && in.replica && b.Opts.ReadOnly && sql.IsolationLevel(b.Opts.Isolation) != sql.LevelSerializable && !b.Session.Pinned() {
			if err := r.beginOnReplica(ctx, b, in, next); err != errNoReplicaTx {
				return err
			}
		}
		if r.watchPrimary {
			waited, err := r.awaitPrimary(ctx)
			if err != nil {
				return err
			}
			if waited {
				return driver.ErrBadConn
			}
		}
		if in == nil || in.token == nil {
			return next(ctx, b)
		}
		in.token.begin()
		err := next(ctx, b)
		if err != nil {
			in.token.end()
		}
		return err
	}
}

var errNoReplicaTx = errors.New("no replica for the transaction")

// replicaTxKey marks, in the context of its BEGIN, a transaction running on a replica; COMMIT
// and ROLLBACK run with that context's values.
type replicaTxKey struct{ r *Router }

// beginOnReplica begins a read-only transaction (asked for with UseReplica, not serializable:
// standbys refuse it) on a connection borrowed from an eligible replica, which the executor
// keeps for the whole transaction. It returns errNoReplicaTx when no replica can take it, so
// the transaction falls back to the primary.
func (r *Router) beginOnReplica(ctx context.Context, b middleware.Begin, in *intent, next middleware.BeginFunc) error {
	var tried uint64
	for i := 0; i < r.cfg.maxReadTries; i++ {
		n, _ := r.pick(in, tried)
		if n == nil {
			break
		}
		tried |= 1 << n.idx
		b2 := b
		b2.Target = &n.target
		err := next(context.WithValue(ctx, replicaTxKey{r}, n), b2)
		if err == nil {
			n.served.Add(1)
			in.setServed(n.name)
			return nil
		}
		if ctx.Err() != nil || !readRetryable(err) {
			return err
		}
		if pgerror.Classify(err).Connection() {
			r.suspect(n)
		}
	}
	if r.cfg.noFallback {
		return ErrNoReplica
	}
	return errNoReplicaTx
}

// wrapEndTx ends, at COMMIT or ROLLBACK, the read-your-writes record of a transaction begun
// with a token.
func (r *Router) wrapEndTx(next middleware.CallFunc) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error {
		err := next(ctx, c)
		if ctx.Value(replicaTxKey{r}) != nil {
			return err // a read-only transaction on a replica wrote nothing to wait for
		}
		if in := intentOf(ctx); in != nil && in.token != nil {
			in.token.end()
		}
		return err
	}
}

// wrapResetSession evicts a pooled session whose backend is on a node that stopped being the
// primary: one that answered 25006, or whose backend PID the monitor listed on a node it saw
// demoted (or losing a split brain). database/sql then opens a new connection.
func (r *Router) wrapResetSession(next middleware.CallFunc) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error {
		if r.evicting.Load() == 0 {
			return next(ctx, c)
		}
		if _, ok := r.evictSessions.LoadAndDelete(c.Session.ID()); ok {
			r.evicting.Add(-1)
			return driver.ErrBadConn
		}
		if pid := c.Session.Backend().PID; pid != 0 && r.evictedPID(pid) {
			return driver.ErrBadConn
		}
		return next(ctx, c)
	}
}

func (r *Router) evictedPID(pid uint32) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p := r.primary.Load()
	for _, n := range r.nodes {
		if n == p || n.evictPIDs == nil {
			continue
		}
		if _, ok := n.evictPIDs[pid]; ok {
			return true
		}
	}
	return false
}

// wrapConnect makes a new primary connection that failed on a connection error wait, up to
// the primary wait, for the monitor to know a primary, and try again: during a failover the
// DSN's hosts refuse or are all standbys until the promotion ends. While the monitor knows a
// primary, it tries again every probe interval / 4; when the wait ends it returns
// ErrNoPrimary joined with the last connect error.
func (r *Router) wrapConnect(next middleware.CallFunc) middleware.CallFunc {
	return func(ctx context.Context, c middleware.Call) error {
		err := next(ctx, c)
		if err == nil || !r.watchPrimary || ctx.Err() != nil || !connectFailed(ctx, err) {
			return err
		}
		for _, n := range r.nodes {
			n.poke()
		}
		deadline := time.NewTimer(r.cfg.primaryWait)
		defer deadline.Stop()
		tick := time.NewTicker(max(r.cfg.interval/4, time.Millisecond))
		defer tick.Stop()
		for {
			r.mu.RLock()
			ch := r.changed
			r.mu.RUnlock()
			select {
			case <-ch:
			case <-tick.C:
			case <-deadline.C:
				return errors.Join(ErrNoPrimary, err)
			case <-ctx.Done():
				return err
			case <-r.done:
				return err
			}
			if r.primary.Load() == nil {
				continue
			}
			if err = next(ctx, c); err == nil || ctx.Err() != nil || !connectFailed(ctx, err) {
				return err
			}
		}
	}
}

// BeforeConnect puts the node the monitor knows as primary first in cfg's host list, so that
// new primary connections of a multi-host DSN skip dead or demoted hosts. Pass it to
// pgprovider.WithBeforeConnect on the primary's Connector.
func (r *Router) BeforeConnect(_ context.Context, cfg *pgx.ConnConfig) error {
	p := r.primary.Load()
	if p == nil || len(cfg.Fallbacks) == 0 {
		return nil
	}
	hosts := make([]*pgconn.FallbackConfig, 0, len(cfg.Fallbacks)+1)
	hosts = append(hosts, &pgconn.FallbackConfig{Host: cfg.Host, Port: cfg.Port, TLSConfig: cfg.TLSConfig})
	hosts = append(hosts, cfg.Fallbacks...)
	first := -1
	for i, h := range hosts {
		if hostPort(h.Host, h.Port) == p.name {
			first = i
			break
		}
	}
	if first <= 0 {
		return nil
	}
	h := hosts[first]
	rest := append(append([]*pgconn.FallbackConfig(nil), hosts[:first]...), hosts[first+1:]...)
	cfg.Host, cfg.Port, cfg.TLSConfig, cfg.Fallbacks = h.Host, h.Port, h.TLSConfig, rest
	return nil
}

// connectFailed reports a connection attempt that failed for a reason a failover explains:
// refused, reset, all hosts standbys, or the DSN's connect_timeout (not the caller's context).
func connectFailed(ctx context.Context, err error) bool {
	return pgerror.Classify(err).Connection() || (ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded))
}
