package pooldiag

import (
	"log/slog"
	"time"
)

// Option configures a [Monitor].
type Option func(*config)

type config struct {
	threshold time.Duration
	interval  time.Duration
	logger    *slog.Logger
	stacks    bool
	depth     int
	onLeak    func(Leak)
}

// WithThreshold sets how long a connection may be held before it is reported (default 30 s).
func WithThreshold(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.threshold = d
		}
	}
}

// WithInterval sets how often the scanner looks for leaks (default threshold/4, at least 10 ms).
func WithInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.interval = d
		}
	}
}

// WithLogger sets the logger leaks and exhaustion are reported to (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithoutStacks turns stack capture off: holds are still tracked and reported, without the
// call that took the connection (capture costs about a microsecond per transaction and query).
func WithoutStacks() Option { return func(c *config) { c.stacks = false } }

// WithStackDepth sets how many frames are captured (default 32).
func WithStackDepth(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.depth = n
		}
	}
}

// WithOnLeak calls f for every leak reported, on the scanner's goroutine; f must not block.
func WithOnLeak(f func(Leak)) Option { return func(c *config) { c.onLeak = f } }
