package pgprovider

import (
	"errors"
	"net"
	"os"
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
	written atomic.Uint64
	reading atomic.Int32 // reads in progress (pgx's background reader may wait in one while idle)
	// listened is set when the session may LISTEN: a notification arrived (and was dropped)
	// or a statement mentioned LISTEN. ResetSession then runs UNLISTEN * before reuse.
	listened atomic.Bool

	errMu   sync.Mutex
	lastErr error

	raw    syscall.RawConn // nil when the connection is not a plain socket (TLS, custom dialers)
	peekFn func(fd uintptr) bool
	pbuf   [16]byte
	pn     int
	perr   error
	peeked []byte // bytes read by a liveness check, returned by the next Read
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
	if len(c.peeked) > 0 {
		n := copy(b, c.peeked)
		c.peeked = c.peeked[n:]
		return n, nil
	}
	c.reading.Add(1)
	n, err := c.Conn.Read(b)
	c.reading.Add(-1)
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

func (c *netConn) peek(fd uintptr) bool {
	c.pn, c.perr = syscall.Read(int(fd), c.pbuf[:])
	return true
}

// liveness reports, without blocking or writing, whether the idle connection is still open
// (alive) and whether the server sent something unsolicited (pending) that the caller should
// let pgx process, for example the FATAL error a terminated backend sends before closing.
func (c *netConn) liveness() (alive, pending bool) {
	if c.raw == nil || len(c.peeked) > 0 {
		return true, len(c.peeked) > 0
	}
	if c.reading.Load() > 0 {
		// pgx's background reader is already waiting for data on the socket (it holds the
		// descriptor's read lock): it will deliver whatever arrives, so do not compete.
		return true, false
	}
	if err := c.raw.Read(c.peekFn); err != nil {
		// A read deadline in the past (set by whoever borrowed the connection) says nothing
		// about the connection: the check could not run, so do not condemn it.
		return errors.Is(err, os.ErrDeadlineExceeded), false
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
		c.peeked = c.pbuf[:c.pn]
		return true, true
	}
}
