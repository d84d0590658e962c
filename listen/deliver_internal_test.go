package listen

import "testing"

// BenchmarkDeliver measures the reader's per-notification work after a message was read
// (parsing, routing and the hand-over into C), with a subscriber draining C on another
// goroutine.
func BenchmarkDeliver(b *testing.B) {
	l := newListener(nil, nil, []Option{WithBufferSize(1 << 16)})
	ch := newChannel("ch")
	s := newSubscription(l, ch)
	s.status = subActive
	ch.subs = []*Subscription{s}
	l.chans["ch"] = ch
	done := make(chan int)
	go func() {
		n := 0
		for range s.out {
			n++
		}
		done <- n
	}()
	body := []byte("\x00\x00\x00\x01ch\x00payload\x00")
	b.ReportAllocs()
	for b.Loop() {
		l.deliver(body)
	}
	s.end()
	<-done
	l.wg.Wait()
	b.ReportMetric(float64(l.stats.dropped.Load()), "dropped")
}
