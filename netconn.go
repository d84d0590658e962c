package pgprovider

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
)

// netConn wraps the network connection of one backend. It counts the bytes written, so the
// driver knows from its own observation whether an operation sent anything to the server,
// and remembers the last network error, which pgx stdlib hides behind driver.ErrBadConn.
// On plain TCP and Unix sockets it can also check, without blocking and without sending
// anything, whether the server closed the connection while it sat idle in the pool.
type netConn struct {
	net.Conn
	// written is the number of bytes written (atomic: pgx writes its Terminate message from
	// a goroutine of its own when it closes a broken connection).
	written atomic.Uint64
	// listened is set when the session may LISTEN: a notification arrived (and was dropped)
	// or a statement mentioned LISTEN. ResetSession then runs UNLISTEN * before reuse.
	listened atomic.Bool

	errMu   sync.Mutex
	lastErr error

	raw    syscall.RawConn // nil when the connection is not a plain socket (TLS, custom dialers)
	peekFn func(fd uintptr)
	pbuf   [1]byte
	pn     int
	perr   error
}

func newNetConn(c net.Conn) *netConn {
	nc := &netConn{Conn: c}
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
		if sc, ok := c.(syscall.Conn); ok {
			if raw, err := sc.SyscallConn(); err == nil {
				nc.raw = raw
				nc.peekFn = nc.peek
			}
		}
	}
	return nc
}

func (c *netConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.written.Add(uint64(n))
	if err != nil {
		c.setErr(err)
	}
	return n, err
}

func (c *netConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		c.setErr(err)
	}
	return n, err
}

func (c *netConn) setErr(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		// Deadlines are how pgx interrupts a wait on context cancellation; not a lost connection.
		return
	}
	c.errMu.Lock()
	c.lastErr = err
	c.errMu.Unlock()
}

// netErr returns the last network error seen on the connection, or nil.
func (c *netConn) netErr() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.lastErr
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
