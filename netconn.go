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
