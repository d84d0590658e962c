package listen

import "testing"

// BenchmarkDeliver measures the reader's per-notification work (routing and the
// hand-over into C) with a subscriber draining C on another goroutine.
func BenchmarkDeliver(b *testing.B) {
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
	body := []byte("\x00\x00\x00\x01ch\x00payload\x00")
	b.ReportAllocs()
	for b.Loop() {
		l.deliver(body)
	}
	s.cancel()
	got := <-done
	b.ReportMetric(float64(l.stats.dropped.Load()), "dropped")
	_ = got
}
