// Package listen is a LISTEN/NOTIFY client for PostgreSQL that never loses a notification
// silently.
//
// # Listener and subscriptions
//
// A [Listener] ([New] from a DSN, or [FromConnector] to reuse the driver's configuration,
// credentials hook and TLS) owns one dedicated connection, never one from database/sql's pool,
// and one reader goroutine. pgconn opens the connection, so every DSN setting, TLS mode,
// multi-host and authentication method works; pgconn then hands it over, and the listener
// reads it with its own small protocol reader, which parses a notification in place (one
// allocation, its payload) and runs LISTEN, UNLISTEN and the idle ping as simple queries.
// Reading with pgconn's WaitForNotification was measured side by side and cost 1.3 to 1.6 times
// the client CPU per notification (five allocations instead of one): see bench/RESULTS-listen.md.
//
// [Listener.Subscribe] returns once the server has acknowledged LISTEN. A channel is LISTENed
// once however many subscriptions it has, and UNLISTENed when the last one goes. Subscribing
// costs one round trip whatever the number of channels already subscribed, and Subscribe
// calls made while another waits for its LISTEN share the next round trip; a reconnect
// LISTENs every channel again in batches of 1 000 per round trip. An idle subscription costs
// about 1.4 kB and no goroutine.
//
// Each [Subscription] delivers [Event] values on [Subscription.C]: a notification, or a gap.
//
// # Gaps
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
// The pending gap is kept outside the subscription's buffer, so a gap is never dropped, and
// losses that happen before the subscriber read a gap are merged into it. Handlers must be
// idempotent: a change read while handling a gap can also arrive later as a notification.
//
// # Never blocked by a subscriber
//
// The reader never waits for a subscriber: each subscription has its own bounded buffer
// ([WithBufferSize]); when it is full the newest notification is dropped and counted in an
// overflow gap. A slow subscriber delays neither the others nor LISTEN, ping or Close.
//
// # Connection loss
//
// When idle, the listener pings the server with a timeout ([WithPing]), so a half-open TCP
// connection is detected. It reconnects forever, with exponential backoff and jitter
// ([WithBackoff], [WithJitter]); [WithStateHook] reports each change. An error that retrying
// cannot fix (a wrong password, a database that does not exist; pgerror classes
// Authentication and NoDatabase) is returned by the Subscribe calls waiting for the
// connection. [Listener.Stats] feeds health checks and metrics. [Listener.Close] is bounded,
// idempotent, and leaves no goroutine behind.
//
// # Sending
//
// NOTIFY is a wake-up signal, not a data bus: payloads are limited to 7999 bytes, every commit
// carrying a NOTIFY takes a cluster-wide lock, and notifications are folded per transaction
// (the same channel and payload sent twice in one transaction arrive once). Use [Notify] (it
// runs SELECT pg_notify($1, $2), so it works on a *sql.DB, a *sql.Conn, and inside a *sql.Tx,
// where it delivers on commit only) or [NotifyJSON], and [DecodeJSON] on the receiving side.
//
// Channel names are case-sensitive and never folded or truncated ([Validate]):
// Subscribe("Foo") receives pg_notify('Foo', ...), whereas the SQL statement NOTIFY Foo
// targets the channel foo.
//
// LISTEN does not work through PgBouncer in transaction pooling mode: point the listener at
// the server directly ([WithConnConfig]) or at a session-mode pool.
package listen
