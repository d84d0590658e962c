package listen

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Execer is what [Notify] sends through: *sql.DB, *sql.Conn and *sql.Tx implement it.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Notify sends payload on channel with SELECT pg_notify($1, $2). Inside a *sql.Tx the
// notification is delivered at commit, and never on rollback; the same channel and payload
// sent twice in one transaction arrive once. channel is used as is: case-sensitive, never
// folded or truncated. An argument [Validate] refuses, or a payload the server finds too long,
// returns an error matching [ErrInvalid] (the former before contacting the server).
//
// NOTIFY is a wake-up signal, not a data bus: every commit carrying a NOTIFY takes a
// cluster-wide lock, and a full notification queue makes such commits fail. Send an id and
// let listeners read the data.
func Notify(ctx context.Context, ex Execer, channel, payload string) error {
	if err := Validate(channel, payload); err != nil {
		return err
	}
	_, err := ex.ExecContext(ctx, "SELECT pg_notify($1, $2)", channel, payload)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && strings.Contains(pgErr.Message, "payload string too long") {
		return fmt.Errorf("%w: %w", invalidError("invalid payload: too long for the server"), err)
	}
	return err
}

// NotifyJSON sends v encoded as JSON with [Notify].
func NotifyJSON[T any](ctx context.Context, ex Execer, channel string, v T) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return Notify(ctx, ex, channel, string(b))
}

// DecodeJSON decodes the JSON payload of a notification event into a T. A gap has no
// payload: it returns an error matching [ErrInvalid].
func DecodeJSON[T any](e Event) (T, error) {
	var v T
	if e.IsGap() {
		return v, invalidf("invalid event for DecodeJSON: a %v gap on %q, not a notification", e.Gap.Reason, e.Channel)
	}
	err := json.Unmarshal([]byte(e.Payload), &v)
	return v, err
}
