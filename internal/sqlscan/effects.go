package sqlscan

import "strings"

// Effect is a set of things a SQL text may do to the session or the transaction beyond its
// own result. Effects reports them conservatively: a set bit means "may", a clear bit means
// "certainly not, as far as the text shows" (see [Effects] for what no text can show).
type Effect uint32

// The effects. SessionState is set together with every other effect that changes the
// session (Listen, DropsPrepared, TempObject, Role, Routine), so that testing SessionState
// alone never misses a session change; TxControl and Multi do not imply it.
const (
	// SessionState: the session may keep state after the text ran: SET (also SET LOCAL,
	// SET TRANSACTION, SET CONSTRAINTS), RESET, DISCARD, LOAD, LISTEN, UNLISTEN, DECLARE
	// (a cursor), PREPARE, DEALLOCATE, CALL, DO, EXECUTE; set_config, an advisory lock
	// function (any name holding "advisory_", so unlocks and transaction-level locks too)
	// or pg_temp named anywhere in the text, string literals, dollar-quoted bodies and
	// comments included; a temporary object created; a U&"..." identifier (its escapes may
	// spell any name); and a text the lexer does not fully understand (an unterminated
	// comment, string, quoted identifier or dollar-quoted string).
	SessionState Effect = 1 << iota
	// Listen: a command starts with LISTEN (the session may now receive notifications).
	Listen
	// DropsPrepared: the server may have dropped prepared statements: DISCARD ALL,
	// DISCARD PLANS, DEALLOCATE.
	DropsPrepared
	// TempObject: a temporary object may now exist: CREATE [OR REPLACE] [GLOBAL|LOCAL]
	// TEMP|TEMPORARY ... (wherever a CREATE appears in a command, so CREATE SCHEMA
	// elements and EXPLAIN ANALYZE CREATE count), SELECT ... INTO [GLOBAL|LOCAL]
	// TEMP|TEMPORARY ..., or pg_temp named anywhere in the text.
	TempObject
	// TxControl: a command starts or ends a transaction or a savepoint: BEGIN, START
	// TRANSACTION, COMMIT, END, ROLLBACK, ABORT, SAVEPOINT, RELEASE, PREPARE TRANSACTION,
	// COMMIT PREPARED, ROLLBACK PREPARED.
	TxControl
	// Role: the current role or session authorization may have changed: SET [SESSION|LOCAL]
	// ROLE, SET [SESSION|LOCAL] SESSION AUTHORIZATION, RESET ROLE, RESET SESSION
	// AUTHORIZATION, SET or RESET of the "role" or "session_authorization" parameter by
	// name, DISCARD ALL, a U&"..." identifier, and every set_config call except one whose
	// first argument is a plain '...' literal naming another parameter
	// (set_config('app.x', ...)); a set_config named inside a string, a body or a comment
	// counts as a call with an unknown first argument.
	Role
	// Routine: the text runs code whose effects it does not show: CALL, DO, EXECUTE of a
	// prepared statement (also EXPLAIN ... EXECUTE and CREATE TABLE ... AS EXECUTE). Such
	// code may do anything the other effects describe, transaction control included.
	Routine
	// Multi: the text holds more than one command (empty commands between semicolons, or
	// made only of comments, do not count).
	Multi
)

var effectNames = [...]string{"session_state", "listen", "drops_prepared", "temp_object", "tx_control", "role", "routine", "multi"}

// Has reports whether e contains every effect in f (so e.Has(0) is true).
func (e Effect) Has(f Effect) bool { return e&f == f }

// String lists the effects in declaration order separated by "|", e.g.
// "session_state|listen"; it returns "" for none. Unknown bits print as "0x...".
func (e Effect) String() string {
	var b strings.Builder
	for i, name := range effectNames {
		if e&(1<<i) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString(name)
	}
	if rest := e &^ (1<<len(effectNames) - 1); rest != 0 {
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		const hex = "0123456789abcdef"
		b.WriteString("0x")
		started := false
		for shift := 28; shift >= 0; shift -= 4 {
			d := rest >> uint(shift) & 0xf
			if d != 0 || started || shift == 0 {
				b.WriteByte(hex[d])
				started = true
			}
		}
	}
	return b.String()
}

// Effects reports what sql may do to the session or transaction. It errs on the side of
// reporting an effect: a false effect costs the driver a re-check, a missed one a tenant leak.
//
// It lexes sql as PostgreSQL does with standard_conforming_strings on; when a '...' literal
// holds a backslash it lexes it again as with standard_conforming_strings off and reports
// the union. Only the first word of each command counts as its verb (after any '(' and
// comments; after EXPLAIN's options for EXPLAIN), so "UPDATE t SET ..." is no SET, while
// function names count anywhere. What no text shows is out of its reach: a function that
// changes the session when called (SELECT my_func()), dynamic SQL built from pieces, or
// settings attached to a function or role. It does not allocate.
func Effects(sql string) Effect {
	e, again := scanEffects(sql, false)
	if again {
		e2, _ := scanEffects(sql, true)
		e |= e2
	}
	return e
}

// verb kinds that shape the rest of a command's analysis.
const (
	vOther = iota
	vCreate
	vExplain
)

type analyzer struct {
	lx lexer
	e  Effect
	// cmds counts the non-empty commands.
	cmds int
	// safeSetConfig counts set_config calls whose first argument is a plain literal that
	// names neither role nor session_authorization.
	safeSetConfig int
	// backslash: a '...' literal held a backslash.
	backslash bool
}

// cmdState is what the analysis of one command remembers.
type cmdState struct {
	verb       int
	seenSelect bool
}

func scanEffects(sql string, escapeAll bool) (Effect, bool) {
	a := analyzer{lx: lexer{s: sql, escapeAll: escapeAll}}
	for a.command() {
	}
	if a.cmds > 1 {
		a.e |= Multi
	}
	setConfig, fe := functions(sql)
	a.e |= fe
	if setConfig > a.safeSetConfig {
		a.e |= Role
	}
	return a.e, a.backslash
}

// note records what a token says on its own, wherever it is.
func (a *analyzer) note(t token) {
	if t.flags == 0 {
		return
	}
	if t.flags&fOpen != 0 {
		a.e |= SessionState
	}
	if t.flags&fUnicode != 0 {
		a.e |= SessionState | Role
	}
	if t.flags&fBackslash != 0 {
		a.backslash = true
	}
}

// sig consumes and returns the next significant token, noting every token it passes.
func (a *analyzer) sig() (token, bool) {
	for {
		t, ok := a.lx.next()
		if !ok {
			return t, false
		}
		a.note(t)
		if t.kind != tSpace && t.kind != tComment {
			return t, true
		}
	}
}

// peek returns the next significant token without consuming it, and the lexer after it.
func (a *analyzer) peek() (token, lexer, bool) {
	lx := a.lx
	for {
		t, ok := lx.next()
		if !ok {
			return t, lx, false
		}
		a.note(t)
		if t.kind != tSpace && t.kind != tComment {
			return t, lx, true
		}
	}
}

func isSemi(t token) bool { return t.kind == tPunct && t.text == ";" }

// command analyses one command up to its semicolon; it returns false at the end of the text.
func (a *analyzer) command() bool {
	var st cmdState
	started := false
	var t token
	var ok bool
	for {
		if t, ok = a.sig(); !ok {
			if started {
				a.cmds++
			}
			return false
		}
		if t.kind == tPunct && t.text == "(" {
			started = true
			continue
		}
		break
	}
	if isSemi(t) {
		if started {
			a.cmds++
		}
		return true
	}
	a.cmds++
	if t.kind == tWord {
		a.verb(t, &st)
	} else {
		a.inspect(t, &st)
	}
	for {
		if t, ok = a.sig(); !ok {
			return false
		}
		if isSemi(t) {
			return true
		}
		a.inspect(t, &st)
	}
}

// verb analyses the first word of a command.
func (a *analyzer) verb(t token, st *cmdState) {
	w := t.text
	switch len(w) {
	case 2:
		if equalFold(w, "do") {
			a.e |= Routine | SessionState
		}
	case 3:
		switch {
		case equalFold(w, "set"):
			a.e |= SessionState
			a.target()
		case equalFold(w, "end"):
			a.e |= TxControl
		}
	case 4:
		switch {
		case equalFold(w, "load"):
			a.e |= SessionState
		case equalFold(w, "call"):
			a.e |= Routine | SessionState
		}
	case 5:
		switch {
		case equalFold(w, "reset"):
			a.e |= SessionState
			a.target()
		case equalFold(w, "begin"), equalFold(w, "start"), equalFold(w, "abort"):
			a.e |= TxControl
		}
	case 6:
		switch {
		case equalFold(w, "listen"):
			a.e |= Listen | SessionState
		case equalFold(w, "commit"):
			a.e |= TxControl
		case equalFold(w, "create"):
			st.verb = vCreate
		}
	case 7:
		switch {
		case equalFold(w, "discard"):
			a.e |= SessionState
			if n, _, ok := a.peek(); ok && n.kind == tWord {
				if equalFold(n.text, "all") {
					a.e |= DropsPrepared | Role
				} else if equalFold(n.text, "plans") {
					a.e |= DropsPrepared
				}
			}
		case equalFold(w, "prepare"):
			a.e |= SessionState
			if n, _, ok := a.peek(); ok && n.kind == tWord && equalFold(n.text, "transaction") {
				a.e |= TxControl
			}
		case equalFold(w, "declare"):
			a.e |= SessionState
		case equalFold(w, "execute"):
			a.e |= Routine | SessionState
		case equalFold(w, "explain"):
			st.verb = vExplain
			a.explain(st)
			return
		case equalFold(w, "release"):
			a.e |= TxControl
		}
	case 8:
		switch {
		case equalFold(w, "unlisten"):
			a.e |= SessionState
		case equalFold(w, "rollback"):
			a.e |= TxControl
		}
	case 9:
		if equalFold(w, "savepoint") {
			a.e |= TxControl
		}
	case 10:
		if equalFold(w, "deallocate") {
			a.e |= SessionState | DropsPrepared
		}
	}
	a.inspect(t, st)
}

// explain skips EXPLAIN's options and analyses the explained statement's first word as a
// verb (EXPLAIN ANALYZE runs it).
func (a *analyzer) explain(st *cmdState) {
	for {
		t, after, ok := a.peek()
		if !ok || t.kind != tWord && !(t.kind == tPunct && t.text == "(") {
			return
		}
		a.lx = after
		if t.kind == tPunct {
			// An option list: inspect its words on the way (it may also be a parenthesized
			// statement, which the grammar would reject, but inspecting costs nothing).
			for depth := 1; depth > 0; {
				t, after, ok = a.peek()
				if !ok || isSemi(t) {
					return
				}
				a.lx = after
				switch {
				case t.kind == tPunct && t.text == "(":
					depth++
				case t.kind == tPunct && t.text == ")":
					depth--
				default:
					a.inspect(t, st)
				}
			}
			continue
		}
		if equalFold(t.text, "analyze") || equalFold(t.text, "analyse") || equalFold(t.text, "verbose") || equalFold(t.text, "explain") {
			continue
		}
		a.verb(t, st)
		if st.verb == vOther {
			// EXECUTE later in the command still runs a prepared statement
			// (EXPLAIN ANALYZE CREATE TABLE t AS EXECUTE p).
			st.verb = vExplain
		}
		return
	}
}

// target analyses the parameter after SET or RESET: ROLE, SESSION AUTHORIZATION, or the
// role or session_authorization parameter by name.
func (a *analyzer) target() {
	lx := a.lx
	session := false
	for {
		t, ok := lx.sig()
		if !ok || t.kind != tWord {
			return
		}
		switch w := t.text; {
		case equalFold(w, "local"):
		case equalFold(w, "session"):
			session = true
		case session && equalFold(w, "authorization"), roleParam(w):
			a.e |= Role
			return
		default:
			return
		}
	}
}

// roleParam reports whether the identifier w names the role or session_authorization
// parameter; parameter names are case-insensitive, quoted or not.
func roleParam(w string) bool {
	if len(w) >= 2 && w[0] == '"' && w[len(w)-1] == '"' {
		w = w[1 : len(w)-1]
	}
	return equalFold(w, "role") || equalFold(w, "session_authorization")
}

// inspect analyses a token anywhere in a command.
func (a *analyzer) inspect(t token, st *cmdState) {
	if t.kind != tWord {
		return
	}
	w := t.text
	switch len(w) {
	case 4:
		if st.seenSelect && equalFold(w, "into") {
			// SELECT ... INTO [GLOBAL|LOCAL] TEMP|TEMPORARY t creates a table.
			a.temp(false)
		}
	case 6:
		switch {
		case equalFold(w, "select"):
			st.seenSelect = true
		case equalFold(w, "create"):
			a.temp(true)
		}
	case 7:
		if st.verb != vOther && equalFold(w, "execute") {
			a.e |= Routine | SessionState
		}
	}
	if len(w) >= len("set_config") && strings.IndexByte(w, '_') >= 0 {
		a.call(w)
	}
}

// temp reports a temporary object when the next words are [OR REPLACE] [GLOBAL|LOCAL]
// TEMP|TEMPORARY (OR REPLACE only after CREATE).
func (a *analyzer) temp(create bool) {
	lx := a.lx
	for {
		t, ok := lx.sig()
		if !ok || t.kind != tWord {
			return
		}
		switch w := t.text; {
		case equalFold(w, "global"), equalFold(w, "local"):
		case create && (equalFold(w, "or") || equalFold(w, "replace")):
		case equalFold(w, "temp"), equalFold(w, "temporary"):
			a.e |= TempObject | SessionState
			return
		default:
			return
		}
	}
}

// call counts a set_config call whose first argument is a plain literal naming another
// parameter than role or session_authorization: set_config('app.x', ...).
func (a *analyzer) call(w string) {
	if countSetConfig(w) != 1 {
		return
	}
	lx := a.lx
	if t, ok := lx.sig(); !ok || t.kind != tPunct || t.text != "(" {
		return
	}
	lit, ok := lx.sig()
	if !ok || lit.kind != tString || lit.flags&fPlain == 0 {
		return
	}
	if t, ok := lx.sig(); !ok || t.kind != tPunct || t.text != "," {
		return
	}
	if name := lit.text[1 : len(lit.text)-1]; roleParam(name) {
		return
	}
	a.safeSetConfig++
}

// countSetConfig counts the occurrences of set_config in s, in any case.
func countSetConfig(s string) int {
	n := 0
	for i := 0; ; {
		j := strings.IndexByte(s[i:], '_')
		if j < 0 {
			return n
		}
		i += j
		if at(s, i, 3, "set_config") {
			n++
		}
		i++
	}
}

// functions looks for the session functions anywhere in sql (literals, bodies and
// comments included): it returns the number of set_config occurrences and the effects of
// the others. The names all hold an underscore, which IndexByte finds fast.
func functions(sql string) (setConfig int, e Effect) {
	for i := 0; ; {
		j := strings.IndexByte(sql[i:], '_')
		if j < 0 {
			break
		}
		i += j
		switch {
		case at(sql, i, 3, "set_config"):
			setConfig++
			e |= SessionState
		case at(sql, i, 8, "advisory_"):
			e |= SessionState
		case at(sql, i, 2, "pg_temp"):
			e |= SessionState | TempObject
		}
		i++
	}
	return setConfig, e
}

// at reports whether kw (lower case) occurs in s, in any case, with its byte before at
// s[i] (kw[before] is the underscore found at s[i]).
func at(s string, i, before int, kw string) bool {
	k := i - before
	return k >= 0 && k+len(kw) <= len(s) && equalFold(s[k:k+len(kw)], kw)
}

// fnAt reports whether the underscore at s[i] is part of one of the session functions.
func fnAt(s string, i int) bool {
	return at(s, i, 3, "set_config") || at(s, i, 8, "advisory_") || at(s, i, 2, "pg_temp")
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold compares ASCII case-insensitively; b is lower case.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != b[i] {
			return false
		}
	}
	return true
}

// Plain reports, without lexing, that sql certainly has no effect: Effects(sql) == 0
// whenever Plain(sql) is true (a false Plain says nothing; call Effects). It is true when:
//
//   - sql starts, at its first byte, with a letter that starts no verb with an effect
//     (F G H I J K M N O Q T V W X Y Z: INSERT, MERGE, WITH, VALUES, TABLE, TRUNCATE ...),
//     or with the word SELECT, UPDATE or DELETE in any case;
//   - it holds no ';' (one command) and no backslash;
//   - no underscore in it belongs to set_config, advisory_ or pg_temp;
//   - it holds no "temp" in any case (no CREATE TEMP, no SELECT ... INTO TEMP), no "/*" and
//     no "--" (comments), no '$' not followed by a digit (dollar quotes), no "u&" (Unicode
//     escapes);
//   - it quotes with one kind of quote only, ' or ", an even number of times (so every
//     literal and quoted identifier is terminated).
//
// It reads sql once, eight bytes per branch while none is one of the bytes above, and does
// not allocate: about 8 ns for "SELECT 1", 20 ns for a one-line query, 1.7 µs for 2 KB.
func Plain(sql string) bool {
	if len(sql) == 0 {
		return false
	}
	switch sql[0] | 0x20 {
	case 'f', 'g', 'h', 'i', 'j', 'k', 'm', 'n', 'o', 'q', 't', 'v', 'w', 'x', 'y', 'z':
	case 's':
		if !firstWord(sql, "select") {
			return false
		}
	case 'u':
		if !firstWord(sql, "update") {
			return false
		}
	case 'd':
		if !firstWord(sql, "delete") {
			return false
		}
	default:
		return false
	}
	quotes, dquotes := 0, 0
	for i := 0; i < len(sql); i++ {
		// Skip 8 bytes at a time while none of them is special: one branch per 8 bytes.
		for i+8 <= len(sql) {
			b := sql[i : i+8]
			if plainSpecial[b[0]]|plainSpecial[b[1]]|plainSpecial[b[2]]|plainSpecial[b[3]]|
				plainSpecial[b[4]]|plainSpecial[b[5]]|plainSpecial[b[6]]|plainSpecial[b[7]] != 0 {
				break
			}
			i += 8
		}
		if i >= len(sql) {
			break
		}
		c := sql[i]
		if plainSpecial[c] == 0 {
			continue
		}
		switch c {
		case ';', '\\':
			return false
		case '\'':
			quotes++
		case '"':
			dquotes++
		case '_':
			if fnAt(sql, i) {
				return false
			}
		case 'p', 'P':
			if i >= 3 && equalFold(sql[i-3:i+1], "temp") {
				return false
			}
		case '/':
			if i+1 < len(sql) && sql[i+1] == '*' {
				return false
			}
		case '-':
			if i+1 < len(sql) && sql[i+1] == '-' {
				return false
			}
		case '$':
			if i+1 >= len(sql) || !isDigit(sql[i+1]) {
				return false
			}
		case '&':
			if i > 0 && sql[i-1]|0x20 == 'u' {
				return false
			}
		}
	}
	return quotes == 0 && dquotes%2 == 0 || dquotes == 0 && quotes%2 == 0
}

// plainSpecial marks the bytes Plain looks at.
var plainSpecial = [256]uint8{';': 1, '\\': 1, '\'': 1, '"': 1, '_': 1, 'p': 1, 'P': 1, '/': 1, '-': 1, '$': 1, '&': 1}

// firstWord reports whether sql starts with the word w (lower case), in any case.
func firstWord(sql, w string) bool {
	return len(sql) >= len(w) && equalFold(sql[:len(w)], w) && (len(sql) == len(w) || !isIdentChar(sql[len(w)]))
}
