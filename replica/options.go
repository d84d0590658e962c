package replica

import (
	"time"

	"github.com/pgprovider/pgprovider"
)

// Policy chooses among the eligible replicas.
type Policy int

// The load-balancing policies.
const (
	// RoundRobin takes the eligible replicas in turn.
	RoundRobin Policy = iota
	// LeastInFlight takes the replica with the fewest statements under way.
	LeastInFlight
	// LowestLag takes the replica with the smallest replication lag in bytes.
	LowestLag
)

// String returns the policy's name.
func (p Policy) String() string {
	switch p {
	case RoundRobin:
		return "round_robin"
	case LeastInFlight:
		return "least_in_flight"
	case LowestLag:
		return "lowest_lag"
	}
	return "unknown"
}

type config struct {
	primaryDSN    string
	interval      time.Duration
	timeout       time.Duration
	fall, rise    int
	maxLag        time.Duration
	maxLagBytes   uint64
	policy        Policy
	noFallback    bool
	sticky        time.Duration
	strict        bool
	maxOpen       int
	maxIdle       int
	readTimeout   time.Duration
	primaryWait   time.Duration
	connOpts      []pgprovider.Option
	maxReadTries  int
	monitorAppTag string
}

func defaults() config {
	return config{
		interval:      500 * time.Millisecond,
		timeout:       400 * time.Millisecond,
		fall:          2,
		rise:          2,
		maxLag:        10 * time.Second,
		sticky:        2 * time.Second,
		maxOpen:       16,
		maxIdle:       4,
		primaryWait:   5 * time.Second,
		maxReadTries:  3,
		monitorAppTag: "pgprovider-replica-monitor",
	}
}

// Option configures a [Router].
type Option func(*config)

// WithPrimary gives the monitor the primary's DSN. Every host it lists (a multi-host DSN) is
// probed, so that the monitor knows which node is primary, samples its WAL position for lag,
// detects a failover and makes writes wait for a new primary. Without it, lag is not
// measured (only the staleness fallback of each replica applies) and writes never wait.
func WithPrimary(dsn string) Option { return func(c *config) { c.primaryDSN = dsn } }

// WithProbeInterval sets how often each node is probed (default 500 ms). A failing node is
// probed four times as often until it is marked down.
func WithProbeInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.interval = d
		}
	}
}

// WithProbeTimeout sets the deadline of each probe, connection included (default 400 ms).
func WithProbeTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithHysteresis sets how many failed probes in a row mark a node down (fall, default 2)
// and how many good probes in a row bring it back (rise, default 2).
func WithHysteresis(fall, rise int) Option {
	return func(c *config) {
		if fall > 0 {
			c.fall = fall
		}
		if rise > 0 {
			c.rise = rise
		}
	}
}

// WithMaxLag excludes replicas whose replication lag exceeds d (default 10 s; 0 disables
// the bound). [MaxStaleness] overrides it per context.
func WithMaxLag(d time.Duration) Option { return func(c *config) { c.maxLag = d } }

// WithMaxLagBytes excludes replicas that are more than n bytes of WAL behind the primary
// (default 0: no byte bound). [MaxStalenessBytes] overrides it per context.
func WithMaxLagBytes(n uint64) Option { return func(c *config) { c.maxLagBytes = n } }

// WithPolicy sets the load-balancing policy (default [RoundRobin]).
func WithPolicy(p Policy) Option { return func(c *config) { c.policy = p } }

// WithoutFallback makes replica reads fail with [ErrNoReplica] when no replica is eligible,
// instead of running on the primary (the default).
func WithoutFallback() Option { return func(c *config) { c.noFallback = true } }

// WithStickyWindow sets how long reads with a [WithSession] context stay on the primary
// after a write through it (default 2 s). It has no effect in strict mode.
func WithStickyWindow(d time.Duration) Option { return func(c *config) { c.sticky = d } }

// WithStrictReadYourWrites switches read-your-writes from the sticky window to WAL
// positions: after a write with a [WithSession] context, its reads go to a replica only once
// the replica's replay position (as of its last probe) has passed a primary WAL insert
// position sampled after the write ended. It costs no extra statement; reads stay on the
// primary for up to one probe interval plus the replication lag after each write. Requires
// [WithPrimary].
func WithStrictReadYourWrites() Option { return func(c *config) { c.strict = true } }

// WithPoolSize caps the connections the Router opens to each replica (maxOpen, default 16;
// reads wait for a free one) and how many it keeps idle (maxIdle, default 4).
func WithPoolSize(maxOpen, maxIdle int) Option {
	return func(c *config) {
		if maxOpen > 0 {
			c.maxOpen = maxOpen
		}
		if maxIdle >= 0 {
			c.maxIdle = min(maxIdle, c.maxOpen)
		}
	}
}

// WithReadTimeout bounds each replica attempt of a read, including reading its result set
// (default 0: no bound besides the caller's context). An attempt that times out before
// returning rows is retried on another node. The bound is a deadline on the borrowed
// connection's socket, so no context or timer is created per attempt: a read that times out
// on every node fails with a network timeout error (net.Error with Timeout() true), not
// context.DeadlineExceeded. With a custom dialer that hides the socket
// (pgprovider.WithBackend), the bound does not apply.
func WithReadTimeout(d time.Duration) Option { return func(c *config) { c.readTimeout = d } }

// WithPrimaryWait sets how long statements bound for the primary, and new connections, wait
// for a primary when the monitor knows none (default 5 s), before failing with
// [ErrNoPrimary]. Requires [WithPrimary].
func WithPrimaryWait(d time.Duration) Option { return func(c *config) { c.primaryWait = d } }

// WithMaxReadAttempts sets how many replicas a read tries before it falls back to the
// primary (default 3).
func WithMaxReadAttempts(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxReadTries = n
		}
	}
}

// WithConnectorOptions passes options to the pgprovider Connectors of the replicas
// (credentials hooks, TLS, pgx settings). Do not pass middleware: replica connections run
// under the session's chain.
func WithConnectorOptions(opts ...pgprovider.Option) Option {
	return func(c *config) { c.connOpts = append(c.connOpts, opts...) }
}
