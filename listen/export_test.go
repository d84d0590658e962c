package listen

import "time"

// BackoffDelay exposes the backoff schedule to tests.
func BackoffDelay(n int, opts ...Option) time.Duration {
	c := defaultConfig()
	for _, o := range opts {
		o(&c)
	}
	return c.backoff(n)
}
