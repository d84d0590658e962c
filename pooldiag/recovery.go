package pooldiag

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"
)

// Recovery is the result of [MeasureRecovery]: how long a request blocked on an exhausted
// pool took to proceed after the connection it waited for was released.
type Recovery struct {
	Trials int
	// Acquire is from the release (Conn.Close of the holder) to the waiter holding the
	// connection; Query is to the waiter's first query (SELECT 1) completing on it.
	AcquireP50, AcquireP99, AcquireMax time.Duration
	QueryP50, QueryP99, QueryMax       time.Duration
}

// ErrNotExhaustible is returned by [MeasureRecovery] for a pool whose MaxOpenConns is not 1.
var ErrNotExhaustible = errors.New("pooldiag: MeasureRecovery needs db.SetMaxOpenConns(1)")

// MeasureRecovery runs trials of: take the pool's only connection, start a waiter that asks
// for one (and runs SELECT 1 on it), wait until database/sql counts the waiter as waiting,
// release the connection, and time how long the waiter takes to proceed. db must have
// MaxOpenConns 1 and no other users during the measurement.
func MeasureRecovery(ctx context.Context, db *sql.DB, trials int) (Recovery, error) {
	if db.Stats().MaxOpenConnections != 1 {
		return Recovery{}, ErrNotExhaustible
	}
	acq := make([]time.Duration, 0, trials)
	qry := make([]time.Duration, 0, trials)
	type result struct {
		acquired, queried time.Time
		err               error
	}
	for range trials {
		held, err := db.Conn(ctx)
		if err != nil {
			return Recovery{}, err
		}
		waits := db.Stats().WaitCount
		res := make(chan result, 1)
		go func() {
			var r result
			c, err := db.Conn(ctx)
			if err != nil {
				r.err = err
				res <- r
				return
			}
			r.acquired = time.Now()
			var one int
			r.err = c.QueryRowContext(ctx, "SELECT 1").Scan(&one)
			r.queried = time.Now()
			c.Close()
			res <- r
		}()
		// database/sql offers no signal for "a request is waiting"; its WaitCount is the
		// only evidence, so poll it.
		for db.Stats().WaitCount == waits {
			if ctx.Err() != nil {
				held.Close()
				<-res
				return Recovery{}, ctx.Err()
			}
			time.Sleep(20 * time.Microsecond)
		}
		released := time.Now()
		if err := held.Close(); err != nil {
			<-res
			return Recovery{}, err
		}
		r := <-res
		if r.err != nil {
			return Recovery{}, r.err
		}
		acq = append(acq, r.acquired.Sub(released))
		qry = append(qry, r.queried.Sub(released))
	}
	out := Recovery{Trials: trials}
	out.AcquireP50, out.AcquireP99, out.AcquireMax = quantiles(acq)
	out.QueryP50, out.QueryP99, out.QueryMax = quantiles(qry)
	return out, nil
}

func quantiles(d []time.Duration) (p50, p99, maxd time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	slices.Sort(d)
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	return at(0.50), at(0.99), d[len(d)-1]
}
