package oldlisten

import (
	"bufio"
	"net"
)

// ReadNotifications reads n NotificationResponse messages from conn with the old protocol
// reader and hands each to note the way the old deliver did (the channel looked up without
// an allocation, the payload copied into a string). It exists for the reader benchmark of
// bench/listencmp only.
func ReadNotifications(conn net.Conn, n int, routes map[string]string, note func(pid uint32, channel, payload string)) error {
	w := &wire{conn: conn, rd: bufio.NewReaderSize(conn, wireBuffer)}
	for i := 0; i < n; {
		typ, body, err := w.next()
		if err != nil {
			return err
		}
		if typ != 'A' {
			continue
		}
		pid, channel, payload, ok := parseNotification(body)
		if !ok {
			return errProtocol
		}
		if name, ok := routes[string(channel)]; ok {
			note(pid, name, string(payload))
		}
		i++
	}
	return nil
}
