package faultproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recServer echoes everything and reports, per connection, all bytes it
// received once the connection ends.
type recServer struct {
	ln    net.Listener
	got   chan string
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func newRecServer(t *testing.T) *recServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &recServer{ln: ln, got: make(chan string, 100)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				var all []byte
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					all = append(all, buf[:n]...)
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				s.got <- string(all)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// received waits for the next finished server-side connection.
func (s *recServer) received(t *testing.T) string {
	t.Helper()
	select {
	case g := <-s.got:
		return g
	case <-time.After(5 * time.Second):
		t.Fatal("server connection did not end")
		return ""
	}
}

func setup(t *testing.T) (*Proxy, *recServer) {
	t.Helper()
	s := newRecServer(t)
	p, err := New(s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, s
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

func echo(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != msg {
		t.Fatalf("echo got %q want %q", buf, msg)
	}
}

// readErr reads until an error and returns what was read and the error.
func readErr(c net.Conn) (string, error) {
	var all []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		all = append(all, buf[:n]...)
		if err != nil {
			return string(all), err
		}
	}
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

func wait(t *testing.T, p *Proxy, cond func(Stats) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.WaitStats(ctx, cond); err != nil {
		t.Fatalf("WaitStats: %v (stats %+v)", err, p.Stats())
	}
}

func TestProxy(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, p *Proxy, s *recServer)
	}{
		{"pass", func(t *testing.T, p *Proxy, s *recServer) {
			c := dial(t, p)
			echo(t, c, "hello")
			// The counters move just after each write, so the client may see the echo first.
			wait(t, p, func(st Stats) bool {
				return st.Accepted == 1 && st.Live == 1 && st.BytesC2S == 5 && st.BytesS2C == 5
			})
			c.Close()
			if got := s.received(t); got != "hello" {
				t.Fatalf("server got %q", got)
			}
			wait(t, p, func(s Stats) bool { return s.Live == 0 })
		}},
		{"refuse", func(t *testing.T, p *Proxy, s *recServer) {
			p.SetMode(Refuse)
			// The reset may already be seen by connect or only by read.
			c, err := net.Dial("tcp", p.Addr())
			if err == nil {
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_, err = readErr(c)
				c.Close()
			}
			if !isReset(err) && !errors.Is(err, io.EOF) {
				t.Fatalf("want reset/EOF, got %v", err)
			}
			wait(t, p, func(s Stats) bool { return s.Accepted == 1 })
			p.SetMode(Pass)
			echo(t, dial(t, p), "again")
		}},
		{"blackhole existing and new", func(t *testing.T, p *Proxy, s *recServer) {
			old := dial(t, p)
			echo(t, old, "x")
			p.SetMode(Blackhole)
			nc := dial(t, p)
			wait(t, p, func(s Stats) bool { return s.Accepted == 2 })
			for _, c := range []net.Conn{old, nc} {
				if _, err := c.Write([]byte("held")); err != nil {
					t.Fatal(err)
				}
				_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				_, err := c.Read(make([]byte, 10))
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("want timeout while blackholed, got %v", err)
				}
			}
			p.SetMode(Pass)
			for _, c := range []net.Conn{old, nc} {
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 4)
				if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "held" {
					t.Fatalf("after heal got %q %v", buf, err)
				}
			}
		}},
		{"latency", func(t *testing.T, p *Proxy, s *recServer) {
			c := dial(t, p)
			p.SetLatency(50 * time.Millisecond)
			start := time.Now()
			echo(t, c, "slow")
			if d := time.Since(start); d < 100*time.Millisecond {
				t.Fatalf("round trip %v, want >= 100ms", d)
			}
		}},
		{"reset all", func(t *testing.T, p *Proxy, s *recServer) {
			c := dial(t, p)
			echo(t, c, "a")
			p.ResetAll()
			if _, err := readErr(c); !isReset(err) {
				t.Fatalf("want ECONNRESET, got %v", err)
			}
			s.received(t)
			wait(t, p, func(s Stats) bool { return s.Live == 0 })
		}},
		{"close all", func(t *testing.T, p *Proxy, s *recServer) {
			c := dial(t, p)
			echo(t, c, "a")
			p.CloseAll()
			if _, err := readErr(c); !errors.Is(err, io.EOF) {
				t.Fatalf("want EOF, got %v", err)
			}
			s.received(t)
		}},
		{"cut after c2s rst", func(t *testing.T, p *Proxy, s *recServer) {
			p.CutAfter(3, ClientToServer)
			c := dial(t, p)
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			if _, err := readErr(c); err == nil {
				t.Fatal("want error")
			}
			if got := s.received(t); got != "hel" {
				t.Fatalf("server got %q", got)
			}
			wait(t, p, func(s Stats) bool { return s.Cuts == 1 && s.Live == 0 })
			p.CutAfter(-1, ClientToServer)
			echo(t, dial(t, p), "hello")
		}},
		{"cut after s2c fin", func(t *testing.T, p *Proxy, s *recServer) {
			p.SetCutStyle(FIN)
			p.CutAfter(4, ServerToClient)
			c := dial(t, p)
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			got, err := readErr(c)
			if got != "hell" || !errors.Is(err, io.EOF) {
				t.Fatalf("got %q %v", got, err)
			}
		}},
		{"filter", func(t *testing.T, p *Proxy, s *recServer) {
			p.SetCutStyle(FIN)
			p.SetFilter(func(id int, dir Direction, chunk []byte) Action {
				switch {
				case dir == ClientToServer && string(chunk) == "bad":
					return CutBefore
				case dir == ClientToServer && string(chunk) == "abcdef":
					return CutMiddle
				case dir == ServerToClient && string(chunk) == "last":
					return CutAfter
				}
				return Forward
			})
			for _, tc := range []struct{ send, server, client string }{
				{"bad", "", ""},
				{"abcdef", "abc", ""},
				{"last", "last", "last"},
			} {
				c := dial(t, p)
				echo(t, c, "ok")
				if _, err := c.Write([]byte(tc.send)); err != nil {
					t.Fatal(err)
				}
				got, err := readErr(c)
				// The echo server may answer the forwarded half before the cut reaches the
				// client side: both outcomes are correct for a cut in the middle.
				okClient := got == tc.client || (tc.send == "abcdef" && got == "abc")
				if !okClient || !errors.Is(err, io.EOF) {
					t.Fatalf("%s: client got %q %v", tc.send, got, err)
				}
				if got := s.received(t); got != "ok"+tc.server {
					t.Fatalf("%s: server got %q", tc.send, got)
				}
			}
			wait(t, p, func(st Stats) bool { return st.Cuts == 3 })
		}},
		{"random cut", func(t *testing.T, p *Proxy, s *recServer) {
			p.SetRandomCut(1, 42)
			c := dial(t, p)
			if _, err := c.Write([]byte("boom")); err != nil {
				t.Fatal(err)
			}
			if _, err := readErr(c); err == nil {
				t.Fatal("want error")
			}
			wait(t, p, func(s Stats) bool { return s.Cuts == 1 })
			p.SetRandomCut(0, 0)
			echo(t, dial(t, p), "fine")
		}},
		{"close with live conns", func(t *testing.T, p *Proxy, s *recServer) {
			c := dial(t, p)
			echo(t, c, "a")
			p.SetMode(Blackhole)
			dial(t, p)
			wait(t, p, func(s Stats) bool { return s.Live == 2 })
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := readErr(c); err == nil {
				t.Fatal("want error after Close")
			}
			if _, err := net.Dial("tcp", p.Addr()); err == nil {
				t.Fatal("dial after Close succeeded")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, s := setup(t)
			tt.run(t, p, s)
		})
	}
}
