package listen_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pgprovider/pgprovider/internal/pgtest"
	"github.com/pgprovider/pgprovider/listen"
)

func percentiles(b *testing.B, d []time.Duration, unit string) {
	slices.Sort(d)
	p := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	b.ReportMetric(float64(p(0.5).Microseconds()), "p50-"+unit+"-µs")
	b.ReportMetric(float64(p(0.99).Microseconds()), "p99-"+unit+"-µs")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkNotifyToDelivery measures the latency from sending a NOTIFY (one autocommit
// SELECT pg_notify through database/sql) to the event arriving on the subscription.
func BenchmarkNotifyToDelivery(b *testing.B) {
	node := pgtest.Shared(b).Primary()
	db := openDB(b, node.DSN())
	l := newListener(b, node.DSN())
	s := subscribe(b, l, "lat")
	next(b, s)
	lat := make([]time.Duration, 0, b.N)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if err := listen.Notify(ctx, db, "lat", "x"); err != nil {
			b.Fatal(err)
		}
		next(b, s)
		lat = append(lat, time.Since(start))
	}
	percentiles(b, lat, "notify-to-delivery")
}

// BenchmarkThroughput measures notifications delivered per second to one subscriber:
// "burst" commits 10 000 notifications in one transaction; "per-tx" sends one notification
// per transaction from 8 goroutines.
func BenchmarkThroughput(b *testing.B) {
	node := pgtest.Shared(b).Primary()
	db := openDB(b, node.DSN())
	db.SetMaxOpenConns(8)
	l := newListener(b, node.DSN(), listen.WithBufferSize(1<<16))
	send := map[string]func(n int){
		"burst": func(n int) {
			if _, err := db.Exec("SELECT pg_notify('tp', g::text) FROM generate_series(1, $1) g", n); err != nil {
				b.Error(err)
			}
		},
		"per-tx": func(n int) {
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					for i := w; i < n; i += 8 {
						if err := listen.Notify(context.Background(), db, "tp", fmt.Sprint(i)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		},
	}
	for _, name := range []string{"burst", "per-tx"} {
		b.Run(name, func(b *testing.B) {
			s := subscribe(b, l, "tp")
			defer s.Unsubscribe(context.Background())
			next(b, s)
			const n = 10000
			var total time.Duration
			for b.Loop() {
				start := time.Now()
				go send[name](n)
				for range n {
					if ev := next(b, s); ev.IsGap() {
						b.Fatalf("gap %+v", ev.Gap)
					}
				}
				total += time.Since(start)
			}
			b.ReportMetric(float64(n*b.N)/total.Seconds(), "notifications/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkKillToGap measures the time from pg_terminate_backend on the listener's backend
// to the reconnect gap arriving at the subscriber (20 kills per iteration).
func BenchmarkKillToGap(b *testing.B) {
	node := pgtest.Shared(b).Primary()
	l := newListener(b, node.DSN())
	s := subscribe(b, l, "kill")
	next(b, s)
	var lat []time.Duration
	ctx := context.Background()
	admin, err := node.Connect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	for b.Loop() {
		for range 20 {
			pid := l.Stats().BackendPID
			start := time.Now()
			var ok bool
			if err := admin.QueryRow(ctx, "SELECT pg_terminate_backend($1)", int64(pid)).Scan(&ok); err != nil || !ok {
				b.Fatalf("terminate %d: %v %v", pid, ok, err)
			}
			if ev := next(b, s); !ev.IsGap() || ev.Gap.Reason != listen.GapReconnect {
				b.Fatalf("got %+v", ev)
			}
			lat = append(lat, time.Since(start))
		}
	}
	percentiles(b, lat, "kill-to-gap")
}
