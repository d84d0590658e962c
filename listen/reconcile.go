package listen

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// maxBatch bounds the LISTEN or UNLISTEN statements the reader sends in one simple query:
// a reconnect re-LISTENs 10 000 channels in 10 round trips.
const maxBatch = 1000

// resetChannelsLocked starts a connection: nothing is LISTENed on it yet, so every channel
// that has subscriptions is queued and the others are forgotten. l.mu is held.
func (l *Listener) resetChannelsLocked() {
	clear(l.queue)
	l.queue = l.queue[:0]
	for _, ch := range l.chans {
		ch.state, ch.queued = chanIdle, false
		if !ch.wanted() {
			l.deleteChanLocked(ch)
			continue
		}
		ch.queued = true
		l.queue = append(l.queue, ch)
	}
	l.dirty = len(l.queue) > 0
}

// reconcile runs LISTEN and UNLISTEN for the queued channels, in batches, until the queue
// is empty. Once a batch's LISTENs are acknowledged, its channels' new subscriptions get
// their initial gap and the subscriptions that lived through a lost connection get a
// reconnect gap. Only work queued by a change costs anything: a Subscribe is one LISTEN
// (shared with the Subscribe calls made meanwhile), whatever the number of channels.
func (l *Listener) reconcile(pc *conn, lostErr error, lostAt time.Time) error {
	for {
		l.mu.Lock()
		l.dirty = false
		var add, del []*channel
		for _, ch := range l.queue {
			ch.queued = false
			if l.chans[ch.name] != ch {
				continue // forgotten meanwhile (Close)
			}
			want := ch.wanted()
			switch {
			case want && ch.state == chanIdle:
				ch.state = chanListening
				add = append(add, ch)
			case !want && ch.state == chanListened:
				ch.state = chanUnlistening
				del = append(del, ch)
			case !want && ch.state == chanIdle:
				l.deleteChanLocked(ch)
			}
		}
		clear(l.queue)
		l.queue = l.queue[:0]
		if len(add) == 0 && len(del) == 0 {
			l.releaseWaitersLocked()
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		for len(del) > 0 {
			n := min(len(del), maxBatch)
			if err := l.unlisten(pc, del[:n]); err != nil {
				return err
			}
			del = del[n:]
		}
		for len(add) > 0 {
			n := min(len(add), maxBatch)
			if err := l.listen(pc, add[:n], lostErr, lostAt); err != nil {
				return err
			}
			add = add[n:]
		}
	}
}

// listen LISTENs batch in one round trip. When the server refuses one of the statements
// (all of the batch is then rolled back: it runs as one implicit transaction), it tries them
// one by one, and a channel the server refuses fails its pending Subscribe calls.
func (l *Listener) listen(pc *conn, batch []*channel, lostErr error, lostAt time.Time) error {
	if err := l.exec(pc, "LISTEN ", batch); err != nil {
		if pc.broken(err) {
			return err
		}
		if len(batch) > 1 {
			for i := range batch {
				if err := l.listen(pc, batch[i:i+1], lostErr, lostAt); err != nil {
					return err
				}
			}
			return nil
		}
		return l.refused(batch[0], err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return nil
	}
	for _, ch := range batch {
		ch.state = chanListened
		for _, s := range ch.subs { // they lived through a lost connection
			s.setGap(GapReconnect, lostErr, lostAt)
		}
		for _, s := range ch.pending {
			l.activateLocked(ch, s)
		}
		clear(ch.pending)
		ch.pending = nil
		if !ch.wanted() { // every pending Subscribe gave up meanwhile
			l.queueLocked(ch)
		}
	}
	return nil
}

// refused ends the pending subscriptions of ch with the server's err. A channel that also
// has subscriptions from before a lost connection makes the listener reconnect (and try
// again) instead: they cannot be told.
func (l *Listener) refused(ch *channel, err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch.state = chanIdle
	if l.closing {
		return nil
	}
	had := ch.wanted()
	for _, s := range ch.pending {
		l.refuseLocked(s, err)
	}
	clear(ch.pending)
	ch.pending = nil
	if len(ch.subs) > 0 {
		return err
	}
	if had {
		l.nchans--
	}
	l.deleteChanLocked(ch)
	return nil
}

// unlisten UNLISTENs batch in one round trip. Any error ends the connection: the next one
// LISTENs only what is subscribed.
func (l *Listener) unlisten(pc *conn, batch []*channel) error {
	if err := l.exec(pc, "UNLISTEN ", batch); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return nil
	}
	for _, ch := range batch {
		ch.state = chanIdle
		if ch.wanted() { // subscribed again meanwhile
			l.queueLocked(ch)
		} else {
			l.deleteChanLocked(ch)
		}
	}
	return nil
}

// exec sends verb for every channel of batch as one simple-protocol query (names quoted with
// pgx.Identifier), bounded by the operation timeout and interrupted by Close. Notifications
// that arrive meanwhile are delivered.
func (l *Listener) exec(pc *conn, verb string, batch []*channel) error {
	var b strings.Builder
	for i, ch := range batch {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(verb)
		b.WriteString(pgx.Identifier{ch.name}.Sanitize())
	}
	ctx, cancel := context.WithTimeout(l.runCtx, l.cfg.opTimeout)
	defer cancel()
	err := pc.query(ctx, b.String())
	if err == nil || !pc.broken(err) {
		l.act.touch()
	}
	return err
}
