package health

import "time"

// WithClock replaces the clock used for the cache, for tests.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }
