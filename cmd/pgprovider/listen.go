package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgprovider/pgprovider"
	"github.com/pgprovider/pgprovider/listen"
)

func listenCmd(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) error {
	dsn := dsnFlag(fs)
	dur := fs.Duration("for", 0, "stop after this long and exit 0 (0: until interrupted)")
	count := fs.Int("count", 0, "stop after this many notifications and exit 0 (0: no limit)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: pgprovider listen [flags] CHANNEL...

Prints one line per event on stdout, tab-separated:
  2026-01-02T15:04:05.000Z  notify  CHANNEL  pid=SENDER  PAYLOAD
  2026-01-02T15:04:05.000Z  gap     CHANNEL  initial|reconnect|overflow  dropped=N  [error]
A gap means notifications may have been missed (PostgreSQL drops them while a listener is
disconnected): re-read your state. Connection changes go to stderr. The listener pings the
server when idle and reconnects forever, with backoff.

Channel names are case-sensitive: listen Orders receives pg_notify('Orders', ...), while the
SQL statement NOTIFY Orders targets the channel orders.

Examples:
  pgprovider listen -dsn postgres://app@db1/app orders
  pgprovider listen -count 1 -for 30s orders   # wait for one notification, at most 30s

Flags:
`)
		fs.PrintDefaults()
	}
	return func(ctx context.Context, args []string, out, log io.Writer) error {
		if len(args) == 0 {
			return usagef("no channel given")
		}
		dsn, err := resolveDSN(*dsn)
		if err != nil {
			return err
		}
		for _, ch := range args {
			if err := listen.Validate(ch, ""); err != nil {
				return usagef("%v", err)
			}
		}
		if *dur > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, *dur)
			defer cancel()
		}
		ctx, stop := context.WithCancel(ctx)
		defer stop()
		l, err := listen.New(dsn,
			listen.WithConnConfig(func(c *pgx.ConnConfig) {
				if _, ok := c.RuntimeParams["application_name"]; !ok {
					c.RuntimeParams["application_name"] = "pgprovider listen"
				}
			}),
			listen.WithStateHook(func(s listen.State) {
				switch {
				case s.Connected:
					fmt.Fprintf(log, "connected (backend pid %d)\n", s.BackendPID)
				case s.Delay > 0:
					fmt.Fprintf(log, "disconnected: %v; reconnecting in %v (attempt %d)\n", s.Err, s.Delay.Round(time.Millisecond), s.Attempt)
				default:
					fmt.Fprintf(log, "disconnected: %v; reconnecting\n", s.Err)
				}
			}))
		if err != nil {
			return usagef("%v", err)
		}
		var readers sync.WaitGroup
		defer readers.Wait() // after Close, which closes every subscription's channel
		defer l.Close(context.Background())

		var mu sync.Mutex // one line at a time, and the count
		seen := 0
		show := func(ev listen.Event) {
			mu.Lock()
			defer mu.Unlock()
			ts := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
			if ev.IsGap() {
				line := fmt.Sprintf("%s\tgap\t%s\t%s\tdropped=%d", ts, ev.Channel, ev.Gap.Reason, ev.Gap.Dropped)
				if ev.Gap.Err != nil {
					line += "\t" + ev.Gap.Err.Error()
				}
				fmt.Fprintln(out, line)
				return
			}
			fmt.Fprintf(out, "%s\tnotify\t%s\tpid=%d\t%s\n", ts, ev.Channel, ev.PID, ev.Payload)
			if seen++; *count > 0 && seen >= *count {
				stop()
			}
		}
		for _, ch := range args {
			sub, err := l.Subscribe(ctx, ch)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			readers.Go(func() {
				for ev := range sub.C() {
					show(ev)
				}
			})
		}
		<-ctx.Done()
		return nil
	}
}

func notifyCmd(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) error {
	dsn := dsnFlag(fs)
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: pgprovider notify [flags] CHANNEL PAYLOAD

Sends one notification with SELECT pg_notify(CHANNEL, PAYLOAD): the channel name is used as
given (case-sensitive), the payload must be shorter than 8000 bytes.

Examples:
  pgprovider notify orders 'order 42 paid'
  pgprovider notify -dsn postgres://app@db1/app cache-invalidate '{"key":"user:7"}'

Flags:
`)
		fs.PrintDefaults()
	}
	return func(ctx context.Context, args []string, out, log io.Writer) error {
		if len(args) != 2 {
			return usagef("want CHANNEL PAYLOAD, got %d arguments", len(args))
		}
		dsn, err := resolveDSN(*dsn)
		if err != nil {
			return err
		}
		if err := listen.Validate(args[0], args[1]); err != nil {
			return usagef("%v", err)
		}
		db, err := pgprovider.Open(dsn)
		if err != nil {
			return usagef("%v", err)
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		if err := listen.Notify(ctx, db, args[0], args[1]); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("no answer within %v: %w", *timeout, err)
			}
			return err
		}
		fmt.Fprintf(out, "sent on %s (%d bytes)\n", args[0], len(args[1]))
		return nil
	}
}
