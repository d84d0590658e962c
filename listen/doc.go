// Package listen is a LISTEN/NOTIFY client for PostgreSQL that never loses a notification
// silently.
//
// A [Listener] owns one dedicated connection (never one from database/sql's pool) and one
// reader goroutine. The connection is opened by pgconn, so every DSN setting, TLS mode and
// authentication method works; the listener then reads it with its own small protocol reader,
// which parses a notification in place (one allocation, its payload). [Listener.Subscribe]
// returns once the server has acknowledged LISTEN; a channel is LISTENed once however many
// subscriptions it has, and UNLISTENed when the last one goes. Each [Subscription] delivers
// [Event] values on [Subscription.C]: a notification, or a gap.
//
// PostgreSQL drops every notification sent while a listener is disconnected, so the only
// correct contract is "wake up and re-read state". A gap says "you may have missed something:
// re-read your state now". It is delivered
//
//   - once after Subscribe ([GapInitial]: load your state now),
//   - after every reconnect, and only after the LISTEN was acknowledged again, so state read
//     when the gap arrives misses nothing ([GapReconnect]),
//   - after notifications were dropped because the subscriber was too slow ([GapOverflow]).
//
// The pending gap is a flag kept outside the subscription's buffer, so a gap is never dropped.
// Handlers must be idempotent: a change read while handling a gap can also arrive later as a
// notification.
//
// The reader never blocks on a subscriber: each subscription has its own bounded buffer with an
// [OverflowPolicy]; a slow subscriber delays neither the others nor LISTEN, ping or Close.
// When idle, the listener pings the server with a timeout, so a half-open TCP connection is
// detected; it reconnects forever with exponential backoff and jitter.
//
// NOTIFY is a wake-up signal, not a data bus: payloads are limited to 7999 bytes, every commit
// carrying a NOTIFY takes a cluster-wide lock, and notifications are folded per transaction
// (the same channel and payload sent twice in one transaction arrive once). Use [Notify] (it
// runs SELECT pg_notify($1, $2), so it works inside a *sql.Tx and delivers on commit only).
//
// Channel names are case-sensitive and never folded or truncated: Subscribe("Foo") receives
// pg_notify('Foo', ...), whereas the SQL statement NOTIFY Foo targets the channel foo.
//
// LISTEN does not work through PgBouncer in transaction pooling mode: point the listener at
// the server directly or at a session-mode pool.
package listen
