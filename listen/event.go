package listen

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// maxChannelLen is the longest channel name PostgreSQL accepts, in bytes (NAMEDATALEN-1);
// maxPayloadLen the longest payload with the default block size (shorter than 8000 bytes).
const (
	maxChannelLen = 63
	maxPayloadLen = 7999
)

var (
	// ErrInvalid is matched (errors.Is) by every error about an argument that can never
	// work: a channel name or payload [Validate] refuses, a payload the server found too
	// long, or a gap passed to [DecodeJSON]. The error's text says which.
	ErrInvalid = errors.New("listen: invalid argument")
	// ErrListenerClosed is returned by Subscribe after Close, and by a Subscribe that was
	// waiting when Close was called.
	ErrListenerClosed = errors.New("listen: listener closed")
)

// invalidError is an [ErrInvalid] with its own message.
type invalidError string

func (e invalidError) Error() string        { return "listen: " + string(e) }
func (e invalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error { return invalidError(fmt.Sprintf(format, args...)) }

// Validate reports whether channel can be listened on and payload sent on it; pass "" as
// payload to check a channel name alone. The error matches [ErrInvalid].
//
// A channel name must be 1 to 63 bytes long (PostgreSQL's NAMEDATALEN-1) and contain no NUL.
// Any other character is allowed, and names are case-sensitive: they are quoted, never
// folded, and never truncated (PostgreSQL would LISTEN on a truncated name that pg_notify can
// never reach). A payload must be shorter than 8000 bytes (bytes, not runes: 2667 × "€" is
// too long; the limit is PostgreSQL's with the default 8 kB block size) and contain no NUL.
func Validate(channel, payload string) error {
	switch {
	case channel == "":
		return invalidf("invalid channel name: empty")
	case len(channel) > maxChannelLen:
		return invalidf("invalid channel name: %d bytes long, at most %d", len(channel), maxChannelLen)
	case strings.IndexByte(channel, 0) >= 0:
		return invalidf("invalid channel name: contains NUL")
	case len(payload) > maxPayloadLen:
		return invalidf("invalid payload: %d bytes long, at most %d", len(payload), maxPayloadLen)
	case strings.IndexByte(payload, 0) >= 0:
		return invalidf("invalid payload: contains NUL")
	}
	return nil
}

// GapReason says why a gap was delivered.
type GapReason uint8

const (
	// GapInitial is delivered once, right after Subscribe: load your state now.
	GapInitial GapReason = iota + 1
	// GapReconnect is delivered after a reconnect, once LISTEN was acknowledged again.
	GapReconnect
	// GapOverflow is delivered after notifications were dropped because the subscription's
	// buffer was full (see [WithBufferSize]).
	GapOverflow
)

// String returns the name of the reason: "initial", "reconnect" or "overflow".
func (r GapReason) String() string {
	switch r {
	case GapInitial:
		return "initial"
	case GapReconnect:
		return "reconnect"
	case GapOverflow:
		return "overflow"
	}
	return "unknown"
}

// Gap describes a possible loss. Several losses before the subscriber reads the gap are
// merged into one gap: Dropped adds up, Reason and Since are the first loss's, Err the first
// cause.
type Gap struct {
	Reason  GapReason
	Dropped int       // notifications this subscription dropped because its buffer was full
	Err     error     // why the connection was lost, when a reconnect is part of the gap
	Since   time.Time // when the first merged loss happened
}

// Event is what a subscription delivers: a notification (Gap is nil) or a gap.
type Event struct {
	Channel string // the subscription's channel, for gaps too
	Payload string // the notification's payload
	PID     uint32 // the sending backend's process id
	Gap     *Gap   // non-nil for a gap: re-read your state
}

// IsGap reports whether e is a gap rather than a notification.
func (e Event) IsGap() bool { return e.Gap != nil }
