package listen

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// wire speaks the few protocol messages a listener needs, on a connection that pgconn opened
// (authentication, TLS, target_session_attrs) and then handed over with SyncConn and Hijack:
// simple queries for LISTEN, UNLISTEN and ping, and NotificationResponse parsed in place, so
// that a notification costs one allocation (its payload) and no per-message dispatch.
//
// Why not pgconn's own reader (WaitForNotification with OnNotification): it was built and
// measured side by side in the same listener (commit 07937ee; bench/RESULTS-listen.md, "Reader",
// 2026-12-08, 2 vCPU). pgconn costs 5 allocations (96 B) per notification against 1 (7 B) here,
// and 122 ns against 36 ns to read one (bench/listencmp BenchmarkReader); delivering 200 000
// notifications to one subscriber (12 interleaved rounds) took ×1.61 the client CPU per
// notification (0.69 µs against 0.43 µs; ×1.32 to ×1.62 in six runs of the day) for a median
// throughput of ×0.79 (×0.76 to ×0.89). Kill-to-gap was the same (p50 19.8 ms and 19.7 ms).
// Measure again before replacing it.
//
// A message is consumed only once it was read whole, so a read deadline (an idle check, a
// subscription change) can interrupt a read at any point and leave the stream intact.
type wire struct {
	conn net.Conn
	pid  uint32
	rd   *bufio.Reader
	big  []byte // a message larger than rd's buffer
	n    int    // bytes of the current message to discard from rd, 0 when it was read into big
	wbuf []byte
	err  error // a failure that left the stream out of step: every later read returns it
}

// wireBuffer holds several notifications of the maximum size (8000 bytes of payload).
const wireBuffer = 64 << 10

// maxMessage bounds a message's length: a notification is under 8 KiB, an error or notice a
// few; a larger length means the stream is out of step.
const maxMessage = 16 << 20

// errProtocol reports a message the listener did not expect; the connection is dropped.
var errProtocol = errors.New("listen: unexpected protocol message")

func newWire(hc *pgconn.HijackedConn) *wire {
	return &wire{conn: hc.Conn, pid: hc.PID, rd: bufio.NewReaderSize(hc.Conn, wireBuffer)}
}

// next returns the type and body of the next message. The body is valid until the following
// call. An error leaves the stream as it was when it is a timeout on the first read of a
// message that fits the buffer; any other error makes the connection unusable (w.err).
func (w *wire) next() (byte, []byte, error) {
	if w.err != nil {
		return 0, nil, w.err
	}
	w.done()
	hdr, err := w.rd.Peek(5)
	if err != nil {
		return 0, nil, w.fail(err)
	}
	size := int(binary.BigEndian.Uint32(hdr[1:])) + 1
	if size < 5 || size > maxMessage {
		w.err = fmt.Errorf("%w: length %d", errProtocol, size-1)
		return 0, nil, w.err
	}
	typ := hdr[0]
	if size <= w.rd.Size() {
		msg, err := w.rd.Peek(size)
		if err != nil {
			return 0, nil, w.fail(err)
		}
		w.n = size
		return typ, msg[5:], nil
	}
	// Larger than the buffer (a long error message): read it out. A failure part-way, even a
	// timeout, leaves the stream out of step: it is fatal, and not reported as a timeout.
	if _, err := w.rd.Discard(5); err != nil {
		w.err = fmt.Errorf("%w: reading a %d-byte message: %v", errProtocol, size, err)
		return 0, nil, w.err
	}
	if cap(w.big) < size-5 {
		w.big = make([]byte, size-5)
	}
	w.big = w.big[:size-5]
	if _, err := readFull(w.rd, w.big); err != nil {
		w.err = fmt.Errorf("%w: reading a %d-byte message: %v", errProtocol, size, err)
		return 0, nil, w.err
	}
	return typ, w.big, nil
}

// fail records err as the end of the stream unless it is a timeout (a read deadline set by
// the listener: a wake-up, an idle check), which leaves the stream intact.
func (w *wire) fail(err error) error {
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		w.err = err
	}
	return err
}

func readFull(rd *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := rd.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// done consumes the message next returned last.
func (w *wire) done() {
	if w.n > 0 {
		_, _ = w.rd.Discard(w.n)
		w.n = 0
	}
}

// query sends sql as a simple query (several statements separated by semicolons run as one
// implicit transaction) and reads up to ReadyForQuery, handing notifications that arrive
// meanwhile to note. The caller bounds it with the connection's deadline, which query clears
// when done. A *pgconn.PgError means the server refused the statement and the connection is
// still usable; any other error (a timeout included: the reply is cut) means it is not (w.err).
func (w *wire) query(sql string, note func([]byte)) error {
	if w.err != nil {
		return w.err
	}
	w.wbuf = append(w.wbuf[:0], 'Q', 0, 0, 0, 0)
	w.wbuf = append(w.wbuf, sql...)
	w.wbuf = append(w.wbuf, 0)
	binary.BigEndian.PutUint32(w.wbuf[1:], uint32(len(w.wbuf)-1))
	if _, err := w.conn.Write(w.wbuf); err != nil {
		w.err = err
		return err
	}
	var refused *pgconn.PgError
	for {
		typ, body, err := w.next()
		if err != nil {
			if refused != nil { // the server said why before it closed (FATAL)
				err = fmt.Errorf("%s: %w", refused.Error(), err)
			}
			w.err = err
			return err
		}
		switch typ {
		case 'A':
			note(body)
		case 'E':
			if refused == nil {
				refused = parseError(body)
			}
		case 'Z':
			w.done()
			if err := w.conn.SetDeadline(time.Time{}); err != nil {
				w.err = err
				return err
			}
			if refused != nil {
				return refused
			}
			return nil
		}
		// CommandComplete, EmptyQueryResponse, ParameterStatus, NoticeResponse: nothing to do.
	}
}

// close sends Terminate, best effort and briefly, and closes the connection.
func (w *wire) close() {
	_ = w.conn.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
	_, _ = w.conn.Write([]byte{'X', 0, 0, 0, 4})
	_ = w.conn.Close()
}

// parseNotification splits a NotificationResponse body. The slices alias body.
func parseNotification(body []byte) (pid uint32, channel, payload []byte, ok bool) {
	if len(body) < 6 {
		return 0, nil, nil, false
	}
	pid = binary.BigEndian.Uint32(body)
	rest := body[4:]
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		return 0, nil, nil, false
	}
	channel, rest = rest[:i], rest[i+1:]
	j := bytes.IndexByte(rest, 0)
	if j < 0 {
		return 0, nil, nil, false
	}
	return pid, channel, rest[:j], true
}

// parseError turns an ErrorResponse body into a *pgconn.PgError.
func parseError(body []byte) *pgconn.PgError {
	e := &pgconn.PgError{}
	for len(body) > 1 {
		code := body[0]
		i := bytes.IndexByte(body[1:], 0)
		if i < 0 {
			break
		}
		v := string(body[1 : 1+i])
		body = body[2+i:]
		switch code {
		case 'S':
			e.Severity = v
		case 'V':
			e.SeverityUnlocalized = v
		case 'C':
			e.Code = v
		case 'M':
			e.Message = v
		case 'D':
			e.Detail = v
		case 'H':
			e.Hint = v
		case 'P':
			if n, err := strconv.Atoi(v); err == nil {
				e.Position = int32(n)
			}
		case 'W':
			e.Where = v
		case 's':
			e.SchemaName = v
		case 't':
			e.TableName = v
		case 'c':
			e.ColumnName = v
		case 'n':
			e.ConstraintName = v
		case 'F':
			e.File = v
		case 'L':
			if n, err := strconv.Atoi(v); err == nil {
				e.Line = int32(n)
			}
		case 'R':
			e.Routine = v
		}
	}
	return e
}
