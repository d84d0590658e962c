package sqlsummary

type tokKind uint8

const (
	tSpace tokKind = iota
	tComment
	tString // '...', E'...', $tag$...$tag$
	tNumber
	tParam // $1
	tWord  // identifier or keyword, dotted and quoted parts included
	tPunct
)

type token struct {
	kind tokKind
	text string
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' || c == '$' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// tokenize splits PostgreSQL text into tokens. It never fails: unterminated literals and
// comments run to the end of the text.
func tokenize(s string) []token {
	toks := make([]token, 0, 16)
	for i := 0; i < len(s); {
		c := s[i]
		j := i + 1
		kind := tPunct
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r' || s[j] == '\f') {
				j++
			}
			kind = tSpace
		case c == '-' && j < len(s) && s[j] == '-':
			for j < len(s) && s[j] != '\n' {
				j++
			}
			kind = tComment
		case c == '/' && j < len(s) && s[j] == '*':
			j = blockComment(s, i)
			kind = tComment
		case c == '\'':
			j = quoted(s, i, '\'', false)
			kind = tString
		case c == '$' && j < len(s) && isDigit(s[j]):
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			kind = tParam
		case c == '$':
			if end, ok := dollarQuoted(s, i); ok {
				j, kind = end, tString
			}
		case isDigit(c) || c == '.' && j < len(s) && isDigit(s[j]):
			j, kind = number(s, i), tNumber
		case (c == '+' || c == '-') && signed(s, i, toks):
			j, kind = number(s, i+1), tNumber
		case (c == 'e' || c == 'E') && j < len(s) && s[j] == '\'':
			j, kind = quoted(s, j, '\'', true), tString
		case (c == 'b' || c == 'B' || c == 'x' || c == 'X' || c == 'n' || c == 'N') && j < len(s) && s[j] == '\'':
			j, kind = quoted(s, j, '\'', false), tString
		case (c == 'u' || c == 'U') && j+1 < len(s) && s[j] == '&' && s[j+1] == '\'':
			j, kind = quoted(s, j+1, '\'', false), tString
		case isIdentStart(c) || c == '"':
			j, kind = word(s, i), tWord
		}
		toks = append(toks, token{kind: kind, text: s[i:j]})
		i = j
	}
	return toks
}

// signed reports whether the sign at s[i] starts a numeric literal: a digit follows and the
// previous significant token is not an identifier or a closing parenthesis (so "a-1" stays
// an expression while "99+100" and "-12" are literals, as in OpenTelemetry's test cases).
func signed(s string, i int, toks []token) bool {
	j := i + 1
	if !(j < len(s) && (isDigit(s[j]) || s[j] == '.' && j+1 < len(s) && isDigit(s[j+1]))) {
		return false
	}
	for k := len(toks) - 1; k >= 0; k-- {
		switch toks[k].kind {
		case tSpace, tComment:
			continue
		case tWord, tParam:
			return false
		case tPunct:
			return toks[k].text != ")"
		}
		return true
	}
	return true
}

func blockComment(s string, i int) int {
	depth := 0
	for j := i; j < len(s); {
		switch {
		case j+1 < len(s) && s[j] == '/' && s[j+1] == '*':
			depth++
			j += 2
		case j+1 < len(s) && s[j] == '*' && s[j+1] == '/':
			depth--
			j += 2
			if depth == 0 {
				return j
			}
		default:
			j++
		}
	}
	return len(s)
}

// quoted returns the end of the quoted run starting at s[i] == q; a doubled quote escapes
// it, and so does a backslash when backslash is set (E'...').
func quoted(s string, i int, q byte, backslash bool) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if backslash {
				j++
			}
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

func dollarQuoted(s string, i int) (int, bool) {
	j := i + 1
	for j < len(s) && s[j] != '$' {
		if !isIdentChar(s[j]) || s[j] == '$' || isDigit(s[j]) && j == i+1 {
			return 0, false
		}
		j++
	}
	if j >= len(s) {
		return 0, false
	}
	tag := s[i : j+1]
	for k := j + 1; k+len(tag) <= len(s); k++ {
		if s[k:k+len(tag)] == tag {
			return k + len(tag), true
		}
	}
	return len(s), true
}

func number(s string, i int) int {
	j := i
	if j+1 < len(s) && s[j] == '0' && (s[j+1] == 'x' || s[j+1] == 'X') {
		j += 2
		for j < len(s) && (isHex(s[j]) || s[j] == '_') {
			j++
		}
		return j
	}
	for j < len(s) && (isDigit(s[j]) || s[j] == '_') {
		j++
	}
	if j < len(s) && s[j] == '.' {
		j++
		for j < len(s) && isDigit(s[j]) {
			j++
		}
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < len(s) && isDigit(s[k]) {
			j = k
			for j < len(s) && isDigit(s[j]) {
				j++
			}
		}
	}
	return j
}

// word reads an identifier made of dotted parts, each plain or double-quoted.
func word(s string, i int) int {
	j := i
	for {
		if j < len(s) && s[j] == '"' {
			j = quoted(s, j, '"', false)
		} else {
			for j < len(s) && isIdentChar(s[j]) {
				j++
			}
		}
		if j+1 < len(s) && s[j] == '.' && (isIdentStart(s[j+1]) || s[j+1] == '"') {
			j++
			continue
		}
		return j
	}
}
