package listen

import (
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// BenchmarkOnNotification measures the reader's per-notification work (routing and the
// hand-over into C) with a subscriber draining C on another goroutine.
func BenchmarkOnNotification(b *testing.B) {
	l := newListener(nil, nil, nil)
	s := newSubscription(l, "ch", subConfig{bufferSize: 1 << 16, overflow: DropNewest})
	s.active = true
	l.chans["ch"] = map[*Subscription]struct{}{s: {}}
	l.rebuildRoutesLocked()
	done := make(chan int)
	go func() {
		n := 0
		for range s.out {
			n++
		}
		done <- n
	}()
	l.wg.Add(1)
	go s.run(false)
	n := &pgconn.Notification{PID: 1, Channel: "ch", Payload: "payload"}
	b.ReportAllocs()
	for b.Loop() {
		l.onNotification(nil, n)
	}
	s.cancel()
	got := <-done
	b.ReportMetric(float64(l.stats.dropped.Load()), "dropped")
	_ = got
}
