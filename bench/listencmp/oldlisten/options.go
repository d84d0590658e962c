package oldlisten

import (
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
)

// Option configures a [Listener].
type Option func(*config)

// SubOption configures one [Subscription].
type SubOption func(*subConfig)

// OverflowPolicy says what a subscription does with a notification that does not fit in its
// buffer. Every drop sets the subscription's pending gap ([GapOverflow]), so it is never silent.
type OverflowPolicy uint8

const (
	// DropNewest keeps the buffered notifications and drops the incoming one (the default).
	DropNewest OverflowPolicy = iota
	// DropOldest drops the oldest buffered notification to make room for the incoming one.
	// Its [Subscription.C] is unbuffered, so that all of the buffer keeps the newest.
	DropOldest
)

// StateKind is the connection state reported to a [WithStateHook] callback.
type StateKind uint8

const (
	// StateConnected means a connection was established and every channel is LISTENed on it.
	StateConnected StateKind = iota + 1
	// StateDisconnected means the connection was lost (Err says why) or a dial failed.
	StateDisconnected
	// StateBackoff means the listener waits Delay before dial attempt Attempt.
	StateBackoff
)

// String returns the name of the state.
func (k StateKind) String() string {
	switch k {
	case StateConnected:
		return "connected"
	case StateDisconnected:
		return "disconnected"
	case StateBackoff:
		return "backoff"
	}
	return "unknown"
}

// State is a connection state change reported to a [WithStateHook] callback.
type State struct {
	Kind       StateKind
	BackendPID uint32        // StateConnected: the server process id
	Err        error         // StateDisconnected: why
	Attempt    int           // StateBackoff: the number of the next dial attempt (1-based)
	Delay      time.Duration // StateBackoff: how long the listener waits before it
}

type config struct {
	minDelay     time.Duration
	maxDelay     time.Duration
	jitter       float64
	pingInterval time.Duration
	pingTimeout  time.Duration
	dialTimeout  time.Duration
	opTimeout    time.Duration
	bufferSize   int
	overflow     OverflowPolicy
	appName      string
	connCfg      []func(*pgx.ConnConfig)
	stateHook    func(State)
	errorHook    func(channel string, err error)
}

func defaultConfig() config {
	return config{
		minDelay:     100 * time.Millisecond,
		maxDelay:     30 * time.Second,
		jitter:       0.5,
		pingInterval: 10 * time.Second,
		pingTimeout:  5 * time.Second,
		dialTimeout:  10 * time.Second,
		opTimeout:    10 * time.Second,
		bufferSize:   256,
		appName:      "pgprovider-listener",
	}
}

// WithBackoff sets the reconnect delays (defaults 100 ms and 30 s). After a lost connection
// the first dial is immediate; each failed dial then waits min, 2*min, 4*min, ... capped at
// max, with jitter (see [WithJitter]). A successful connection resets the sequence. The
// listener never gives up.
func WithBackoff(min, max time.Duration) Option {
	return func(c *config) {
		if min > 0 {
			c.minDelay = min
		}
		if max >= c.minDelay {
			c.maxDelay = max
		}
	}
}

// WithJitter sets the random fraction taken off each backoff delay (default 0.5: a delay d
// becomes a uniform value in [d/2, d]). 0 disables jitter, 1 is full jitter.
func WithJitter(fraction float64) Option {
	return func(c *config) { c.jitter = min(max(fraction, 0), 1) }
}

// WithPing sets how long the connection may stay idle before the listener pings the server
// (default 10 s), and how long it waits for the answer (default 5 s). A ping that fails or
// times out closes the connection and starts a reconnect, so a half-open TCP connection is
// detected within interval + timeout. An interval of 0 disables pings.
func WithPing(interval, timeout time.Duration) Option {
	return func(c *config) {
		c.pingInterval = max(interval, 0)
		if timeout > 0 {
			c.pingTimeout = timeout
		}
	}
}

// WithDialTimeout bounds one connection attempt, TLS and authentication included (default 10 s).
func WithDialTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.dialTimeout = d
		}
	}
}

// WithBufferSize sets the default per-subscription buffer (default 256 events): at most that
// many events wait for a subscriber, counting those already in [Subscription.C] (under
// [DropNewest], C itself buffers up to 1024 of them, so a subscriber that keeps up receives
// in batches).
func WithBufferSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.bufferSize = n
		}
	}
}

// WithOverflow sets the default per-subscription [OverflowPolicy] (default [DropNewest]).
func WithOverflow(p OverflowPolicy) Option { return func(c *config) { c.overflow = p } }

// WithApplicationName sets the application_name of the listener's connection when the DSN
// does not set one (default "pgprovider-listener"), so it can be found in pg_stat_activity.
func WithApplicationName(name string) Option { return func(c *config) { c.appName = name } }

// WithConnConfig edits the pgx configuration before every dial, after the connector's
// before-connect hook: for example to connect directly when the pool goes through PgBouncer
// in transaction mode.
func WithConnConfig(f func(*pgx.ConnConfig)) Option {
	return func(c *config) {
		if f != nil {
			c.connCfg = append(c.connCfg, f)
		}
	}
}

// WithStateHook registers f to receive connection state changes. It runs on the reader
// goroutine and must not block.
func WithStateHook(f func(State)) Option { return func(c *config) { c.stateHook = f } }

// WithErrorHandler registers f to receive errors returned by, and panics recovered from,
// [SubscribeFunc] handlers. It must be safe for concurrent use.
func WithErrorHandler(f func(channel string, err error)) Option {
	return func(c *config) { c.errorHook = f }
}

type subConfig struct {
	bufferSize int
	overflow   OverflowPolicy
}

// Buffer sets the buffer size of one subscription, overriding [WithBufferSize]; n counts
// the events waiting in [Subscription.C] too.
func Buffer(n int) SubOption {
	return func(c *subConfig) {
		if n > 0 {
			c.bufferSize = n
		}
	}
}

// Overflow sets the overflow policy of one subscription, overriding [WithOverflow].
func Overflow(p OverflowPolicy) SubOption { return func(c *subConfig) { c.overflow = p } }

// backoff returns the delay before dial attempt n (n >= 1 counts failed attempts so far).
func (c *config) backoff(n int) time.Duration {
	d := c.minDelay
	for i := 1; i < n && d < c.maxDelay; i++ {
		d *= 2
	}
	d = min(d, c.maxDelay)
	if c.jitter > 0 {
		d -= time.Duration(rand.Float64() * c.jitter * float64(d))
	}
	return d
}
