package listencmp

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgprovider/pgprovider/bench/listencmp/oldlisten"
)

// loopConn serves the same bytes over and over: a connection that always has the next
// message ready, so that a benchmark measures the reader alone.
type loopConn struct {
	data []byte
	off  int
}

func (c *loopConn) Read(b []byte) (int, error) {
	n := copy(b, c.data[c.off:])
	c.off = (c.off + n) % len(c.data)
	return n, nil
}
func (c *loopConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *loopConn) Close() error                     { return nil }
func (c *loopConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *loopConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *loopConn) SetDeadline(time.Time) error      { return nil }
func (c *loopConn) SetReadDeadline(time.Time) error  { return nil }
func (c *loopConn) SetWriteDeadline(time.Time) error { return nil }

// notifications encodes 1000 NotificationResponse messages as the throughput runs send them.
func notifications(b *testing.B) []byte {
	var out []byte
	for i := range 1000 {
		var err error
		out, err = (&pgproto3.NotificationResponse{PID: 4242, Channel: "cmp_tp_0_0", Payload: "17-" + strconv.Itoa(i)}).Encode(out)
		if err != nil {
			b.Fatal(err)
		}
	}
	return out
}

var sinkPayload string

// BenchmarkReader measures the client's work per notification in the two readers, without a
// network or a subscriber: pgconn (WaitForNotification with the background context, each
// notification handed to OnNotification) and the old protocol reader, each looking the
// channel up in a route table as the listener does.
func BenchmarkReader(b *testing.B) {
	data := notifications(b)
	routes := map[string]string{"cmp_tp_0_0": "cmp_tp_0_0"}
	b.Run("pgconn", func(b *testing.B) {
		cfg, err := pgconn.ParseConfig("")
		if err != nil {
			b.Fatal(err)
		}
		cfg.OnNotification = func(_ *pgconn.PgConn, n *pgconn.Notification) {
			if name, ok := routes[n.Channel]; ok && name != "" {
				sinkPayload = n.Payload
			}
		}
		pc, err := pgconn.Construct(&pgconn.HijackedConn{Conn: &loopConn{data: data}, PID: 1, TxStatus: 'I',
			ParameterStatuses: map[string]string{}, Config: cfg})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := pc.WaitForNotification(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("own protocol reader", func(b *testing.B) {
		conn := &loopConn{data: data}
		b.ReportAllocs()
		if err := oldlisten.ReadNotifications(conn, b.N, routes, func(_ uint32, _, payload string) { sinkPayload = payload }); err != nil {
			b.Fatal(err)
		}
	})
}
