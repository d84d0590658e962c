// Package sqlscan is the module's only reader of SQL text. One lexer, which follows
// PostgreSQL's own (scan.l, with standard_conforming_strings on), serves two uses:
//
//   - Session effects, for the driver: [Effects] reports what a text may do to the session
//     or the transaction beyond its own result (a SET, a LISTEN, a temporary table, a role
//     change, transaction control, a routine call, several commands ...), and [Plain]
//     recognises, without lexing, the common text that certainly does none of it.
//   - Telemetry, for the middleware: [Parse], [Sanitize] and [Cache] derive a query summary,
//     an operation name and kind, and a text safe to record (literals replaced by "?"),
//     following the OpenTelemetry database semantic conventions.
//
// Effects is conservative by design: it may report an effect that is not there (a table
// named like a keyword, a function body that is only defined, a text the server will
// reject), but it never misses one of the constructs listed on the [Effect] constants,
// however the text is spelled: keywords in any case; white space, comments (nested block
// comments, "--" comments ending at \n or \r) and parentheses between or before words;
// names inside literals, dollar-quoted bodies and quoted identifiers; several commands in
// one text. A text the lexer does not fully understand (an unterminated comment, literal or
// identifier) reports SessionState. Plain(sql) implies Effects(sql) == 0.
//
// What no text shows is out of reach: state changed by a function the text merely calls
// (SELECT my_func()), by SQL built at run time, or by settings attached to functions and
// roles. Neither Effects nor Plain allocates.
package sqlscan
