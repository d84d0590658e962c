package health

import (
	"context"
	"fmt"
	"time"

	"github.com/pgprovider/pgprovider/listen"
)

// Option configures a [Handler].
type Option func(*config)

type config struct {
	timeout     time.Duration
	ttl         time.Duration
	now         func() time.Time
	pingCtx     func(context.Context) context.Context
	replicas    func() []Node
	minReplicas int
	maxLag      time.Duration
	listener    ListenerStats
	extra       []check
	live        []check
}

// WithTimeout bounds one evaluation of all checks (default 2 s). Keep it below the probe's
// timeoutSeconds in the pod spec.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithCacheTTL sets how long a readiness result is reused (default 1 s; 0 evaluates on every
// probe, still one evaluation at a time).
func WithCacheTTL(d time.Duration) Option {
	return func(c *config) {
		if d >= 0 {
			c.ttl = d
		}
	}
}

// WithPingContext derives the context of the primary ping, for example tenancy.System so
// that a tenancy middleware lets the ping through.
func WithPingContext(f func(context.Context) context.Context) Option {
	return func(c *config) { c.pingCtx = f }
}

// WithCheck adds a critical readiness check: readiness fails when it fails.
func WithCheck(name string, fn CheckFunc) Option {
	return func(c *config) { c.extra = append(c.extra, check{name: name, fn: fn, critical: true}) }
}

// WithInfo adds a readiness check that is reported in the body but never fails readiness.
func WithInfo(name string, fn CheckFunc) Option {
	return func(c *config) { c.extra = append(c.extra, check{name: name, fn: fn}) }
}

// WithLivenessCheck adds a check to the liveness endpoint. It must not depend on the
// database; use it for process-local conditions (a wedged worker, a full disk).
func WithLivenessCheck(name string, fn CheckFunc) Option {
	return func(c *config) { c.live = append(c.live, check{name: name, fn: fn, critical: true}) }
}

// Node is the state of one database node as a replica router sees it.
type Node struct {
	Name     string        `json:"name"` // host:port
	Role     string        `json:"role"` // "primary", "standby", "unknown"
	Primary  bool          `json:"primary"`
	Healthy  bool          `json:"healthy"`
	Lag      time.Duration `json:"-"`
	LagMS    float64       `json:"lag_ms"`
	LagBytes uint64        `json:"lag_bytes"`
}

// WithReplicas reports the nodes that nodes returns (it must be cheap: it is called on every
// evaluation). With the replica package's Router:
//
//	health.WithReplicas(func() []health.Node {
//		var out []health.Node
//		for _, s := range router.Stats() {
//			out = append(out, health.Node{Name: s.Name, Role: s.Role.String(), Primary: s.Primary,
//				Healthy: s.Healthy && !s.Suspect, Lag: s.Lag, LagBytes: s.LagBytes})
//		}
//		return out
//	})
//
// The check is informational unless [WithMinReplicas] asks for healthy replicas.
func WithReplicas(nodes func() []Node) Option {
	return func(c *config) { c.replicas = nodes }
}

// WithMinReplicas makes readiness require at least n healthy standbys whose lag is within
// [WithMaxLag] (when set).
func WithMinReplicas(n int) Option { return func(c *config) { c.minReplicas = n } }

// WithMaxLag counts a standby lagging more than d as unhealthy.
func WithMaxLag(d time.Duration) Option { return func(c *config) { c.maxLag = d } }

func (c *config) replicaCheck(context.Context) (any, error) {
	nodes := c.replicas()
	healthy := 0
	for i := range nodes {
		n := &nodes[i]
		n.LagMS = float64(n.Lag.Microseconds()) / 1000
		if !n.Primary && n.Healthy && (c.maxLag == 0 || n.Lag <= c.maxLag) {
			healthy++
		}
	}
	if healthy < c.minReplicas {
		return nodes, fmt.Errorf("%d healthy replicas, want at least %d", healthy, c.minReplicas)
	}
	return nodes, nil
}

// ListenerStats is implemented by *listen.Listener.
type ListenerStats interface{ Stats() listen.Stats }

// WithListener adds a critical check that l is connected. A listener without subscriptions
// has no connection by design and passes.
func WithListener(l ListenerStats) Option { return func(c *config) { c.listener = l } }

// listenerDetail is the detail of the listener check, as it appears in the JSON report.
type listenerDetail struct {
	Connected     bool   `json:"connected"`
	Channels      int    `json:"channels"`
	Subscriptions int    `json:"subscriptions"`
	Reconnects    uint64 `json:"reconnects"`
	Gaps          uint64 `json:"gaps"`
	Dropped       uint64 `json:"dropped"`
}

func listenerCheck(l ListenerStats) CheckFunc {
	return func(context.Context) (any, error) {
		s := l.Stats()
		d := listenerDetail{Connected: s.Connected, Channels: s.Channels, Subscriptions: s.Subscriptions,
			Reconnects: s.Reconnects, Gaps: s.Gaps, Dropped: s.Dropped}
		if !s.Connected && s.Subscriptions > 0 {
			return d, fmt.Errorf("listener disconnected (%d subscriptions waiting)", s.Subscriptions)
		}
		return d, nil
	}
}
