package pgprovider

import (
	"context"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// livenessMinIdle is how long a connection must have been out of use since its previous
// checkout before the checkout checks, with one non-blocking look at the socket, that the
// server did not close it. A connection recycled within a millisecond is no likelier to have
// died than during the statement itself, and the check would cost a system call on every
// query of a busy pool. Missing a dead connection is safe either way: the statement then fails
// with nothing re-run.
const livenessMinIdle = time.Millisecond

// pingMinIdle is pgx stdlib's own rule, kept: after a second out of use, a checkout makes one
// round trip, which also finds a connection whose network path died without a FIN or RST.
const pingMinIdle = time.Second

// shouldPing decides, at each checkout of a pgx stdlib connection, whether pgx must make a
// round trip before handing it out (stdlib.OptionShouldPing). pgx measures the idle time; this
// adds a check that costs no round trip: a connection idle for a millisecond or more whose
// socket the server closed, or on which it sent something unsolicited (a terminated backend's
// FATAL error), is pinged, so that pgx reads what arrived and reports the connection bad.
func shouldPing(_ context.Context, p stdlib.ShouldPingParams) bool {
	if p.IdleDuration < livenessMinIdle {
		return false
	}
	if nc, ok := p.Conn.PgConn().Conn().(*netConn); ok {
		alive, pending := nc.liveness()
		if !alive {
			// Nothing may reach a socket the server closed: close it here, and the ping fails
			// at once, without writing, so pgx reports the connection bad.
			_ = nc.Conn.Close()
			return true
		}
		if pending {
			return true
		}
	}
	return p.IdleDuration > pingMinIdle
}

// peek looks at the socket's receive queue without taking anything from it and without
// waiting: MSG_PEEK leaves any data for pgx, MSG_DONTWAIT makes an empty queue EAGAIN.
func (c *netConn) peek(fd uintptr) {
	c.pn, _, c.perr = syscall.Recvfrom(int(fd), c.pbuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
}

// liveness reports, without blocking, writing or consuming anything, whether the idle
// connection is still open (alive) and whether the server sent something unsolicited
// (pending) that the caller should let pgx process, for example the FATAL error a terminated
// backend sends before closing. It takes no lock on the socket, so a read pgx's background
// reader left waiting on the idle connection neither blocks it nor loses data to it.
func (c *netConn) liveness() (alive, pending bool) {
	if c.raw == nil {
		return true, false
	}
	if err := c.raw.Control(c.peekFn); err != nil {
		return false, false // the socket is closed
	}
	switch {
	case c.perr == syscall.EAGAIN:
		return true, false
	case c.perr != nil:
		c.setErr(c.perr)
		return false, false
	case c.pn == 0:
		return false, false // EOF: the server closed the connection
	default:
		return true, true
	}
}
