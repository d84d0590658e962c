package oldlisten

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// MaxChannelLen is the longest channel name PostgreSQL accepts, in bytes (NAMEDATALEN-1).
const MaxChannelLen = 63

// MaxPayloadLen is the longest payload PostgreSQL accepts with the default block size, in
// bytes: a payload must be shorter than 8000 bytes.
const MaxPayloadLen = 7999

var (
	// ErrInvalidChannel is returned for an empty channel name, one longer than 63 bytes or one
	// containing NUL. Names are never truncated: PostgreSQL would LISTEN on a truncated name
	// that pg_notify can never reach.
	ErrInvalidChannel = errors.New("listen: invalid channel name")
	// ErrPayloadTooLarge is returned for a payload of 8000 bytes or more (bytes, not runes).
	ErrPayloadTooLarge = errors.New("listen: payload too large (must be shorter than 8000 bytes)")
	// ErrListenerClosed is returned by Subscribe after Close.
	ErrListenerClosed = errors.New("listen: listener closed")
	// ErrNotNotification is returned by [DecodeJSON] for a gap event.
	ErrNotNotification = errors.New("listen: event is a gap, not a notification")
)

// ValidateChannel reports whether name can be used as a channel: non-empty, at most 63 bytes,
// no NUL. Names are case-sensitive and may contain any other character.
func ValidateChannel(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidChannel)
	case len(name) > MaxChannelLen:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidChannel, len(name), MaxChannelLen)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("%w: contains NUL", ErrInvalidChannel)
	}
	return nil
}

// ValidatePayload reports whether payload can be sent: shorter than 8000 bytes, no NUL.
func ValidatePayload(payload string) error {
	if len(payload) > MaxPayloadLen {
		return fmt.Errorf("%w: %d bytes", ErrPayloadTooLarge, len(payload))
	}
	if strings.IndexByte(payload, 0) >= 0 {
		return errors.New("listen: payload contains NUL")
	}
	return nil
}

// EventKind says whether an [Event] is a notification or a gap.
type EventKind uint8

const (
	// EventNotification is a notification received from the server.
	EventNotification EventKind = iota + 1
	// EventGap says notifications may have been missed: re-read your state.
	EventGap
)

// GapReason says why a gap was delivered.
type GapReason uint8

const (
	// GapInitial is delivered once, right after Subscribe: load your state now.
	GapInitial GapReason = iota + 1
	// GapReconnect is delivered after a reconnect, once LISTEN was acknowledged again.
	GapReconnect
	// GapOverflow is delivered after notifications were dropped because the buffer was full.
	GapOverflow
)

// String returns the name of the reason.
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

// Notification is one notification received from the server.
type Notification struct {
	Channel string
	Payload string
	PID     uint32 // the sender's backend process id
}

// Gap describes a possible loss. Several losses before the subscriber reads the gap are
// merged into one gap: Dropped adds up, Reason is the first one.
type Gap struct {
	Reason  GapReason
	Dropped int       // notifications dropped by this subscription's overflow policy
	Err     error     // GapReconnect: why the previous connection was lost
	Since   time.Time // when the first merged loss happened
}

// Event is what a subscription delivers: a notification, or a gap (Gap is non-nil).
type Event struct {
	Kind         EventKind
	Notification Notification // valid when Kind == EventNotification
	Gap          *Gap         // non-nil when Kind == EventGap
}

// IsGap reports whether e is a gap.
func (e Event) IsGap() bool { return e.Kind == EventGap }
