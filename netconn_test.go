package pgprovider

import (
	"net"
	"testing"
	"time"
)

func tcpPair(t *testing.T) (client *netConn, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	t.Cleanup(func() { c.Close(); server.Close() })
	return newNetConn(c), server
}

func TestLiveness(t *testing.T) {
	t.Run("idle and open", func(t *testing.T) {
		c, _ := tcpPair(t)
		if alive, pending := c.liveness(); !alive || pending {
			t.Fatalf("alive=%v pending=%v", alive, pending)
		}
	})
	t.Run("closed by the server", func(t *testing.T) {
		c, s := tcpPair(t)
		s.Close()
		deadline := time.Now().Add(2 * time.Second)
		for {
			if alive, _ := c.liveness(); !alive {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("closed connection reported alive")
			}
			time.Sleep(time.Millisecond) // the FIN crosses loopback asynchronously
		}
	})
	t.Run("unsolicited data is left for the next read", func(t *testing.T) {
		c, s := tcpPair(t)
		s.Write([]byte("E-fatal-message-longer-than-the-peek-buffer"))
		var pending bool
		for deadline := time.Now().Add(2 * time.Second); !pending && time.Now().Before(deadline); {
			_, pending = c.liveness()
		}
		if !pending {
			t.Fatal("pending data not seen")
		}
		buf := make([]byte, 64)
		got := ""
		for len(got) < len("E-fatal-message-longer-than-the-peek-buffer") {
			n, err := c.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			got += string(buf[:n])
		}
		if got != "E-fatal-message-longer-than-the-peek-buffer" {
			t.Fatalf("read %q", got)
		}
	})
	t.Run("a read already waiting neither blocks the check nor loses data to it", func(t *testing.T) {
		// pgx's background reader can be left waiting in Read on an idle connection.
		c, s := tcpPair(t)
		got := make(chan string, 1)
		go func() {
			buf := make([]byte, 8)
			n, _ := c.Read(buf)
			got <- string(buf[:n])
		}()
		// Check many times while the reader waits (it is in Read within microseconds; there is
		// no signal for "parked in the poller", so the checks span 50ms to be sure to overlap).
		for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
			checked := make(chan bool, 1)
			go func() { alive, _ := c.liveness(); checked <- alive }()
			select {
			case alive := <-checked:
				if !alive {
					t.Fatal("reported dead")
				}
			case <-time.After(2 * time.Second):
				t.Fatal("liveness blocked behind a pending read")
			}
		}
		s.Write([]byte("x"))
		if g := <-got; g != "x" {
			t.Fatalf("the waiting read got %q", g)
		}
	})
	t.Run("counts bytes written", func(t *testing.T) {
		c, _ := tcpPair(t)
		c.Write([]byte("hello"))
		if c.written.Load() != 5 {
			t.Fatalf("written %d", c.written.Load())
		}
	})
}

// TestLivenessPastDeadline: a read deadline in the past (left by whoever borrowed the
// connection) keeps the check from running; it must not condemn a healthy connection.
func TestLivenessPastDeadline(t *testing.T) {
	c, _ := tcpPair(t)
	if err := c.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if alive, pending := c.liveness(); !alive || pending {
		t.Fatalf("alive %v, pending %v", alive, pending)
	}
}
