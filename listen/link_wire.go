package listen

import (
	"context"
	"errors"
	"net"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgprovider/pgprovider/pgerror"
)

// useWire (PGPROVIDER_LISTEN_READER=wire at New) selects the listener's own protocol reader:
// for the side-by-side measurement only.
func useWire() bool { return os.Getenv("PGPROVIDER_LISTEN_READER") == "wire" }

// wireLink is a connection pgconn opened and handed over (SyncConn, Hijack), read by the
// listener's own protocol reader.
type wireLink struct {
	l      *Listener
	w      *wire
	cancel context.CancelFunc
}

func (l *Listener) hijack(pc *pgconn.PgConn, cancel context.CancelFunc) (link, error) {
	ctx, cc := context.WithTimeout(l.runCtx, defaultDialTimeout)
	defer cc()
	if err := pc.SyncConn(ctx); err != nil {
		_ = pc.Close(ctx)
		cancel()
		return nil, err
	}
	hc, err := pc.Hijack()
	if err != nil {
		_ = pc.Close(ctx)
		cancel()
		return nil, err
	}
	return &wireLink{l: l, w: newWire(hc), cancel: cancel}, nil
}

func (c *wireLink) backendPID() uint32 { return c.w.pid }
func (c *wireLink) netConn() net.Conn  { return c.w.conn }

func (c *wireLink) wait() error {
	for {
		typ, body, err := c.w.next()
		if err != nil {
			return err
		}
		switch typ {
		case 'A':
			c.l.deliverBody(body)
		case 'E':
			err := parseError(body)
			c.w.done()
			c.w.err = err
			return err
		case 'S', 'N':
		default:
			c.w.err = errProtocol
			return errProtocol
		}
	}
}

func (c *wireLink) query(ctx context.Context, sql string) error {
	dl, _ := ctx.Deadline()
	if err := c.w.conn.SetDeadline(dl); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.w.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	err := c.w.query(sql, c.l.deliverBody)
	var pgErr *pgconn.PgError
	if err != nil && !errors.As(err, &pgErr) { // a statement's error leaves the stream in step
		c.w.err = err
	}
	return err
}

func (c *wireLink) broken(err error) bool {
	return c.w.err != nil || pgerror.Classify(err).Connection()
}

func (c *wireLink) close() {
	c.w.close()
	c.cancel()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// deliverBody hands a NotificationResponse body, parsed in place, to the channel's
// subscriptions.
func (l *Listener) deliverBody(body []byte) {
	l.stats.received.Add(1)
	pid, channel, payload, ok := parseNotification(body)
	if !ok {
		return
	}
	l.rmu.RLock()
	if ch := l.chans[string(channel)]; ch != nil {
		ev := Event{Channel: ch.name, Payload: string(payload), PID: pid}
		for _, s := range ch.subs {
			if s.push(ev) {
				l.stats.dropped.Add(1)
			}
		}
	}
	l.rmu.RUnlock()
}
