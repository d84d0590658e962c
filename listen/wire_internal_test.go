package listen

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func msg(typ byte, body []byte) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(body)+4))
	return append(b, body...)
}

func TestParseNotification(t *testing.T) {
	tests := []struct {
		name             string
		body             string
		ok               bool
		pid              uint32
		channel, payload string
	}{
		{"plain", "\x00\x00\x01\x02ch\x00hello\x00", true, 258, "ch", "hello"},
		{"empty payload", "\x00\x00\x00\x07Foo Bar\x00\x00", true, 7, "Foo Bar", ""},
		{"short", "\x00\x00\x01", false, 0, "", ""},
		{"no channel end", "\x00\x00\x00\x01chan", false, 0, "", ""},
		{"no payload end", "\x00\x00\x00\x01ch\x00pay", false, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid, ch, p, ok := parseNotification([]byte(tt.body))
			if ok != tt.ok || (ok && (pid != tt.pid || string(ch) != tt.channel || string(p) != tt.payload)) {
				t.Fatalf("got %d %q %q %v", pid, ch, p, ok)
			}
		})
	}
}

func TestParseError(t *testing.T) {
	body := []byte("SFATAL\x00VFATAL\x00C57P01\x00Mterminating connection due to administrator command\x00P12\x00L3300\x00Rfunc\x00\x00")
	e := parseError(body)
	if e.Severity != "FATAL" || e.Code != "57P01" || !strings.Contains(e.Message, "administrator") || e.Position != 12 || e.Line != 3300 || e.Routine != "func" {
		t.Fatalf("%+v", e)
	}
}

// TestWireStream: messages larger than the read buffer, and a read deadline that interrupts
// a message half-way, leave the stream intact.
func TestWireStream(t *testing.T) {
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	w := &wire{conn: client, rd: bufio.NewReaderSize(client, 16)} // a tiny buffer
	note := msg('A', []byte("\x00\x00\x00\x01ch\x00p\x00"))       // 17 bytes: larger than 16
	small := msg('S', []byte("a\x00b\x00"))                       // 9 bytes
	resume := make(chan struct{})
	go func() {
		_, _ = server.Write(small[:3]) // half a message, then wait for the reader's timeout
		<-resume
		_, _ = server.Write(small[3:])
		_, _ = server.Write(note)
	}()
	_ = client.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, _, err := w.next()
	close(resume)
	if !isTimeout(err) {
		t.Fatalf("want a timeout, got %v", err)
	}
	_ = client.SetReadDeadline(time.Time{})
	typ, body, err := w.next()
	if err != nil || typ != 'S' || !bytes.Equal(body, []byte("a\x00b\x00")) {
		t.Fatalf("after the timeout: %c %q %v", typ, body, err)
	}
	typ, body, err = w.next()
	if err != nil || typ != 'A' {
		t.Fatalf("big message: %c %q %v", typ, body, err)
	}
	if _, ch, p, ok := parseNotification(body); !ok || string(ch) != "ch" || string(p) != "p" {
		t.Fatalf("big message body %q", body)
	}
	go func() { _, _ = server.Write([]byte{'A', 0, 0, 0, 2}) }()
	if _, _, err := w.next(); !errors.Is(err, errProtocol) {
		t.Fatalf("bad length: %v", err)
	}
}

// TestWireBigMessageCut: a deadline that interrupts a message larger than the buffer leaves
// the stream out of step: the error is fatal (not a timeout) and sticks; an absurd length is
// refused before anything is allocated.
func TestWireBigMessageCut(t *testing.T) {
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	w := &wire{conn: client, rd: bufio.NewReaderSize(client, 16)}
	big := msg('N', bytes.Repeat([]byte("x"), 40))
	go func() { _, _ = server.Write(big[:20]) }() // then nothing
	_ = client.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, _, err := w.next()
	if err == nil || isTimeout(err) || !errors.Is(err, errProtocol) {
		t.Fatalf("cut big message: %v (timeout %v)", err, isTimeout(err))
	}
	_ = client.SetReadDeadline(time.Time{})
	if _, _, err2 := w.next(); err2 != err {
		t.Fatalf("the failure does not stick: %v", err2)
	}

	c2, s2 := net.Pipe()
	t.Cleanup(func() { c2.Close(); s2.Close() })
	w2 := &wire{conn: c2, rd: bufio.NewReaderSize(c2, 16)}
	go func() { _, _ = s2.Write([]byte{'A', 0x7f, 0xff, 0xff, 0xff}) }()
	if _, _, err := w2.next(); !errors.Is(err, errProtocol) || cap(w2.big) != 0 {
		t.Fatalf("absurd length: %v, allocated %d", err, cap(w2.big))
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestWireEOFIsFinal: a connection closed by the peer ends the stream for good (a read
// deadline does not).
func TestWireEOFIsFinal(t *testing.T) {
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close() })
	w := &wire{conn: client, rd: bufio.NewReaderSize(client, 16)}
	server.Close()
	_, _, err := w.next()
	if err == nil || isTimeout(err) || w.err == nil {
		t.Fatalf("after EOF: %v, sticky %v", err, w.err)
	}
	if _, _, err2 := w.next(); err2 != err {
		t.Fatalf("the failure does not stick: %v", err2)
	}
	if err := w.query("", func([]byte) {}); err != w.err {
		t.Fatalf("query on a broken stream: %v", err)
	}
}
