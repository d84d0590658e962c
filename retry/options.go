package retry

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/pgprovider/pgprovider/middleware"
	"github.com/pgprovider/pgprovider/pgerror"
)

// Option configures [New] and [Tx].
type Option func(*config)

type config struct {
	maxAttempts int
	maxElapsed  time.Duration
	initial     time.Duration
	maxInterval time.Duration
	multiplier  float64
	jitter      float64
	retryIf     func(error) bool
	codes       map[string]bool
	onAttempt   func(context.Context, Attempt)
}

// The defaults: 5 attempts in all, within 10 seconds, waiting 50 ms, 100 ms, 200 ms ... (at
// most 2 s) between them, each wait randomized by ±50%.
const (
	defaultMaxAttempts     = 5
	defaultMaxElapsedTime  = 10 * time.Second
	defaultInitialInterval = 50 * time.Millisecond
	defaultMaxInterval     = 2 * time.Second
	defaultMultiplier      = 2.0
	defaultJitter          = 0.5
)

func newConfig(opts []Option) *config {
	c := &config{
		maxAttempts: defaultMaxAttempts,
		maxElapsed:  defaultMaxElapsedTime,
		initial:     defaultInitialInterval,
		maxInterval: defaultMaxInterval,
		multiplier:  defaultMultiplier,
		jitter:      defaultJitter,
		retryIf:     retryable,
	}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	return c
}

// WithMaxAttempts bounds the number of attempts, the first one included (n < 1 means 1: no
// retry). The default is 5.
func WithMaxAttempts(n int) Option {
	return func(c *config) { c.maxAttempts = max(n, 1) }
}

// WithMaxElapsedTime stops retrying when the next wait would end later than d after the first
// failure. Zero means no time bound (attempts still are). The default is 10 seconds.
func WithMaxElapsedTime(d time.Duration) Option {
	return func(c *config) { c.maxElapsed = d }
}

// WithInterval sets the first wait and the longest wait between attempts (by default 50 ms and
// 2 s). Waits grow exponentially (×2 by default) and are randomized (see [WithJitter]).
func WithInterval(initial, maxInterval time.Duration) Option {
	return func(c *config) { c.initial, c.maxInterval = initial, maxInterval }
}

// WithMultiplier sets the growth factor of the wait between attempts (default 2).
func WithMultiplier(f float64) Option {
	return func(c *config) { c.multiplier = f }
}

// WithJitter sets the randomization factor of each wait: a wait w becomes a random duration
// in [w×(1-f), w×(1+f)]. The default is 0.5; 0 disables jitter.
func WithJitter(f float64) Option {
	return func(c *config) { c.jitter = f }
}

// WithRetryIf replaces the predicate that decides which errors are retryable; the default is
// [pgerror.Class.Retryable]. Whatever it says, the hard rules hold: no retry inside a
// transaction, of a COMMIT, after the context ended, or of an operation whose outcome is
// unknown unless marked [Idempotent].
func WithRetryIf(f func(err error) bool) Option {
	return func(c *config) {
		if f != nil {
			c.retryIf = f
		}
	}
}

// WithCodes adds SQLSTATEs to the retryable set, for example "55P03" (lock_not_available)
// when NOWAIT or lock_timeout is used to back off from contention.
func WithCodes(codes ...string) Option {
	return func(c *config) {
		if c.codes == nil {
			c.codes = make(map[string]bool, len(codes))
		}
		for _, code := range codes {
			c.codes[code] = true
		}
	}
}

// WithOnAttempt sets a function called after every failed attempt, whether or not it will be
// retried, and after a retried attempt that succeeded. It runs with the context the
// middleware (or [Tx]) received, so a tracing middleware listed before retry finds its span
// there and can record each attempt as an event. It is never called on the happy path (first
// attempt succeeded). It must not block.
func WithOnAttempt(f func(ctx context.Context, a Attempt)) Option {
	return func(c *config) { c.onAttempt = f }
}

// Attempt describes one attempt, as reported to [WithOnAttempt].
type Attempt struct {
	// Op is the operation: OpConnect, OpBegin, OpPrepare, OpExec, OpQuery (or the prepared
	// statement variants). For [Tx] it is OpBegin or OpCommit when those failed, and 0
	// when the closure failed.
	Op middleware.Op
	// N is the attempt number, 1 for the first.
	N int
	// Err is the error of the attempt, nil when it succeeded.
	Err error
	// Retry reports whether another attempt follows.
	Retry bool
	// Delay is the wait before the next attempt, when Retry is set.
	Delay time.Duration
}

func (c *config) backOff() *backoff.ExponentialBackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(c.initial),
		backoff.WithMaxInterval(c.maxInterval),
		backoff.WithMultiplier(c.multiplier),
		backoff.WithRandomizationFactor(c.jitter),
		backoff.WithMaxElapsedTime(c.maxElapsed),
	)
}

// retryable applies the configured set: the predicate, then the extra codes.
func (c *config) retryable(err error) bool {
	if c.retryIf(err) {
		return true
	}
	if len(c.codes) > 0 {
		if code := pgerror.Code(err); code != "" && c.codes[code] {
			return true
		}
	}
	return false
}

// retryable is the default predicate: the error's class is retryable.
func retryable(err error) bool { return pgerror.Classify(err).Retryable() }
