package pgprovider

import "strings"

// changesSession reports whether a statement may change session state the driver tracks or
// must keep: a SET, RESET or DISCARD, set_config, a LISTEN, a temporary table, a cursor, a
// session-level advisory lock, a DO block or procedure call. It errs on the side of yes; the
// cost of a false yes is one extra set_config round trip later. State changed inside a
// function the driver cannot see; raw access to the connection is handled separately.
func changesSession(sql string) bool {
	// The three functions all have an underscore: look only where there is one (IndexByte
	// is vectorised), so a long statement costs a few fast scans, not one per keyword.
	for i, rest := 0, sql; ; {
		j := strings.IndexByte(rest, '_')
		if j < 0 {
			break
		}
		i += j
		if fnAt(sql, i) {
			return true
		}
		i++
		rest = sql[i:]
	}
	// The first word of each command.
	for more := true; more; {
		var w, rest string
		w, rest, sql, more = nextCommand(sql)
		if sessionVerb(w) {
			return true
		}
		if equalFold(w, "create") {
			w2, _ := word(trimSpace(rest))
			if equalFold(w2, "temp") || equalFold(w2, "temporary") {
				return true
			}
		}
	}
	return false
}

// nextCommand splits off the first command of sql at a semicolon: its first word (after
// white space, parentheses and comments), the rest of that command, and what follows the
// semicolon (more is false when there is none). A semicolon inside a literal or a comment
// also splits: callers err on the side of a command too many.
func nextCommand(sql string) (w, rest, next string, more bool) {
	i := strings.IndexByte(sql, ';')
	seg := sql
	if i >= 0 {
		seg, next, more = sql[:i], sql[i+1:], true
	}
	w, rest = word(skipNoise(seg))
	return w, rest, next, more
}

// fnAt reports whether the underscore at sql[i] is part of set_config, advisory_lock or
// pg_temp, in any case.
func fnAt(sql string, i int) bool {
	at := func(before int, kw string) bool {
		k := i - before
		return k >= 0 && k+len(kw) <= len(sql) && equalFold(sql[k:k+len(kw)], kw)
	}
	return at(3, "set_config") || at(8, "advisory_lock") || at(2, "pg_temp")
}

func sessionVerb(w string) bool {
	switch len(w) {
	case 2:
		return equalFold(w, "do")
	case 3:
		return equalFold(w, "set")
	case 4:
		return equalFold(w, "load") || equalFold(w, "call")
	case 5:
		return equalFold(w, "reset")
	case 6:
		return equalFold(w, "listen")
	case 7:
		return equalFold(w, "discard") || equalFold(w, "prepare") || equalFold(w, "declare")
	case 8:
		return equalFold(w, "unlisten")
	case 10:
		return equalFold(w, "deallocate")
	}
	return false
}

func word(s string) (w, rest string) {
	i := 0
	for i < len(s) && (s[i] == '_' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z') {
		i++
	}
	return s[:i], s[i:]
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r') {
		s = s[1:]
	}
	return s
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

// statementVerbs reports, in one pass over sql, whether one of its commands starts with
// LISTEN (the session may now receive notifications) and whether one is DISCARD ALL, DISCARD
// PLANS or DEALLOCATE (the server dropped prepared statements behind pgx's back). Only the
// first words of the commands count: a table named "listeners" is not a LISTEN.
func statementVerbs(sql string) (listen, dropped bool) {
	if plainStatement(sql) {
		return false, false
	}
	for more := true; more; {
		var w, rest string
		w, rest, sql, more = nextCommand(sql)
		switch {
		case equalFold(w, "listen"):
			listen = true
		case equalFold(w, "deallocate"):
			dropped = true
		case equalFold(w, "discard"):
			w2, _ := word(trimSpace(rest))
			dropped = dropped || equalFold(w2, "all") || equalFold(w2, "plans")
		}
	}
	return listen, dropped
}

// plainStatement reports a statement that is one command starting with a letter other than
// L or D: almost every statement, and never a LISTEN, DISCARD or DEALLOCATE.
func plainStatement(sql string) bool {
	return sql != "" && plainInitials>>(uint(sql[0]|0x20)-'a')&1 != 0 && strings.IndexByte(sql, ';') < 0
}

// plainInitials has a bit for each letter but L and D, by place in the alphabet (what is not
// a letter shifts to a place beyond 25, or wraps around beyond 63: no bit).
const plainInitials = (1<<26 - 1) &^ (1<<('l'-'a') | 1<<('d'-'a'))

// skipNoise skips leading white space, parentheses and comments.
func skipNoise(s string) string {
	for len(s) > 0 {
		switch c := s[0]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '(':
			s = s[1:]
		case c == '-' && len(s) > 1 && s[1] == '-':
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return ""
			}
			s = s[i+1:]
		case c == '/' && len(s) > 1 && s[1] == '*':
			i := strings.Index(s[2:], "*/")
			if i < 0 {
				return ""
			}
			s = s[i+4:]
		default:
			return s
		}
	}
	return s
}
