package listen

import (
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
)

// Option configures a [Listener].
type Option func(*config)

// State is a change of the listener's connection, reported to a [WithStateHook] callback:
// either the connection is up (Connected) or it is down and the listener is about to dial
// again (Attempt, after Delay).
type State struct {
	Connected  bool          // a connection is up and every channel is LISTENed on it
	BackendPID uint32        // when Connected: the server process id
	Err        error         // when not Connected: why the connection was lost or the dial failed
	Attempt    int           // when not Connected: the number of the next dial attempt, from 1
	Delay      time.Duration // when not Connected: the wait before that attempt (0 after a lost connection)
}

type config struct {
	minDelay     time.Duration
	maxDelay     time.Duration
	jitter       float64
	pingInterval time.Duration
	pingTimeout  time.Duration
	opTimeout    time.Duration
	bufferSize   int
	connCfg      []func(*pgx.ConnConfig)
	stateHook    func(State)
}

// Defaults that are not options: the bound of a dial when the configuration sets no
// connect_timeout, and of a LISTEN or UNLISTEN round trip.
const (
	defaultDialTimeout = 10 * time.Second
	defaultOpTimeout   = 10 * time.Second
	defaultAppName     = "pgprovider-listener"
)

func defaultConfig() config {
	return config{
		minDelay:     100 * time.Millisecond,
		maxDelay:     30 * time.Second,
		jitter:       0.5,
		pingInterval: 10 * time.Second,
		pingTimeout:  5 * time.Second,
		opTimeout:    defaultOpTimeout,
		bufferSize:   256,
	}
}

// WithBackoff sets the reconnect delays (defaults 100 ms and 30 s). After a lost connection
// the first dial is immediate; each failed dial then waits min, 2×min, 4×min, ... capped at
// max, randomized by [WithJitter]. A successful connection resets the sequence. The listener
// never gives up.
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

// WithJitter sets the randomization factor of each reconnect delay, with the meaning it has
// in package retry: a delay d becomes a uniform random duration in [d×(1−f), d×(1+f)]. The
// default is 0.5; 0 disables jitter; f is clamped to [0, 1]. The cap of [WithBackoff] applies
// before the randomization, so a delay can reach max×(1+f).
func WithJitter(f float64) Option {
	return func(c *config) { c.jitter = min(max(f, 0), 1) }
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

// WithBufferSize sets how many events may wait for each subscriber (default 256), counting
// those already in [Subscription.C], which itself buffers n/16 of them (at most 1024). When
// a subscription's buffer is full, the newest notification is dropped and the subscription
// gets a [GapOverflow] gap, never silently. Size it for your bursts: a transaction that sends
// 1000 notifications delivers them within microseconds.
func WithBufferSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.bufferSize = n
		}
	}
}

// WithConnConfig edits the pgx configuration before every dial, after the connector's
// before-connect hook: for example to connect directly when the pool goes through PgBouncer
// in transaction mode, or to set the application_name (default "pgprovider-listener" when
// neither the DSN nor f sets one) or ConnectTimeout (default 10 s when the DSN sets no
// connect_timeout), which bounds each dial, TLS and authentication included.
func WithConnConfig(f func(*pgx.ConnConfig)) Option {
	return func(c *config) {
		if f != nil {
			c.connCfg = append(c.connCfg, f)
		}
	}
}

// WithStateHook registers f to receive the connection's state changes: each connection that
// came up with every channel LISTENed, each lost connection and each failed dial. It runs on
// the reader goroutine and must not block.
func WithStateHook(f func(State)) Option { return func(c *config) { c.stateHook = f } }

// backoff returns the delay before dial attempt n+1 (n >= 1 counts failed attempts so far).
func (c *config) backoff(n int) time.Duration {
	d := c.minDelay
	for i := 1; i < n && d < c.maxDelay; i++ {
		d *= 2
	}
	d = min(d, c.maxDelay)
	if c.jitter > 0 {
		d = time.Duration(float64(d) * (1 - c.jitter + 2*c.jitter*rand.Float64()))
	}
	return d
}
