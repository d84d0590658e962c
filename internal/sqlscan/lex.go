package sqlscan

// This file is the module's one SQL lexer. It follows PostgreSQL's scan.l (the server's
// lexer) with standard_conforming_strings on, byte by byte:
//
//   - white space is space, \t, \n, \r, \f and \v; a "--" comment ends at \n or \r;
//   - block comments nest ("/* /* */ still a comment */");
//   - '...' strings double a quote to escape it; E'...' strings also take backslash escapes;
//     B'...', X'...', N'...' and U&'...' strings lex like '...';
//   - a string continues after white space holding a newline and another quote
//     ('a'\n'b' is one literal), in the mode it began with (E'a'\n'\'' is one E string);
//   - "..." identifiers double a quote to escape it; U&"..." identifiers may spell any name
//     with escapes;
//   - $tag$...$tag$ and $$...$$ are opaque strings; $1 is a parameter; '$' continues an
//     identifier ("a$b").
//
// The lexer never fails: an unterminated comment, string or identifier runs to the end of
// the text and is flagged, so that callers can treat the text as not understood.

type tokKind uint8

const (
	tSpace tokKind = iota
	tComment
	tString // '...', E'...', B'...', X'...', N'...', U&'...', $tag$...$tag$
	tNumber
	tParam // $1
	tWord  // identifier or keyword, dotted and quoted parts included
	tPunct
)

// Token flags.
const (
	// fOpen: the token is unterminated and runs to the end of the text.
	fOpen uint8 = 1 << iota
	// fUnicode: a U&"..." identifier part, whose name escapes may spell anything.
	fUnicode
	// fPlain: a '...' string with no prefix and no continuation: its text between the outer
	// quotes is its content with quotes doubled.
	fPlain
	// fBackslash: a '...' or N'...' string holding a backslash, which would end elsewhere
	// with standard_conforming_strings off.
	fBackslash
)

type token struct {
	kind  tokKind
	flags uint8
	text  string
}

// lexer yields the tokens of s one at a time; it does not allocate. The zero value with s
// set is ready to use, and copying it saves its position (for lookahead).
type lexer struct {
	s string
	i int
	// escapeAll lexes '...' and N'...' like E'...' (standard_conforming_strings off).
	escapeAll bool
	// The last significant token (not white space or comment), for signed.
	lastKind tokKind
	lastText string
	hasLast  bool
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' || c == '$' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// next returns the next token, or false at the end of the text.
func (l *lexer) next() (token, bool) {
	s, i := l.s, l.i
	if i >= len(s) {
		return token{}, false
	}
	c := s[i]
	j := i + 1
	kind := tPunct
	var fl uint8
	switch {
	case isSpace(c):
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		kind = tSpace
	case c == '-' && j < len(s) && s[j] == '-':
		j = lineEnd(s, j)
		kind = tComment
	case c == '/' && j < len(s) && s[j] == '*':
		j, fl = blockComment(s, i)
		kind = tComment
	case c == '\'':
		j, fl = l.str(s, i, l.escapeAll)
		if fl&fOpen != 0 || l.escapeAll && fl&fBackslash != 0 {
			fl &^= fPlain
		}
		kind = tString
	case c == '$' && j < len(s) && isDigit(s[j]):
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		kind = tParam
	case c == '$':
		if end, ok, open := dollarQuoted(s, i); ok {
			j, kind = end, tString
			if open {
				fl = fOpen
			}
		}
	case isDigit(c) || c == '.' && j < len(s) && isDigit(s[j]):
		j, kind = number(s, i), tNumber
	case (c == '+' || c == '-') && l.signed(s, i):
		j, kind = number(s, i+1), tNumber
	case (c == 'e' || c == 'E') && j < len(s) && s[j] == '\'':
		j, fl = l.str(s, j, true)
		fl &^= fPlain | fBackslash
		kind = tString
	case (c == 'n' || c == 'N') && j < len(s) && s[j] == '\'':
		j, fl = l.str(s, j, l.escapeAll)
		fl &^= fPlain
		kind = tString
	case (c == 'b' || c == 'B' || c == 'x' || c == 'X') && j < len(s) && s[j] == '\'':
		j, fl = l.str(s, j, false)
		fl &^= fPlain | fBackslash
		kind = tString
	case (c == 'u' || c == 'U') && j+1 < len(s) && s[j] == '&' && s[j+1] == '\'':
		j, fl = l.str(s, j+1, false)
		fl &^= fPlain | fBackslash
		kind = tString
	case isIdentStart(c) || c == '"':
		j, fl = word(s, i)
		kind = tWord
	}
	l.i = j
	t := token{kind: kind, flags: fl, text: s[i:j]}
	if kind != tSpace && kind != tComment {
		l.lastKind, l.lastText, l.hasLast = kind, t.text, true
	}
	return t, true
}

// sig returns the next token that is not white space or a comment.
func (l *lexer) sig() (token, bool) {
	for {
		t, ok := l.next()
		if !ok || t.kind != tSpace && t.kind != tComment {
			return t, ok
		}
	}
}

// lineEnd returns the index of the first \n or \r at or after j, or len(s).
func lineEnd(s string, j int) int {
	for j < len(s) && s[j] != '\n' && s[j] != '\r' {
		j++
	}
	return j
}

// signed reports whether the sign at s[i] starts a numeric literal: a digit follows and the
// previous significant token is not an identifier or a closing parenthesis (so "a-1" stays
// an expression while "99+100" and "-12" are literals, as in OpenTelemetry's test cases).
// It only shapes telemetry: a sign never changes what a text does to the session.
func (l *lexer) signed(s string, i int) bool {
	j := i + 1
	if !(j < len(s) && (isDigit(s[j]) || s[j] == '.' && j+1 < len(s) && isDigit(s[j+1]))) {
		return false
	}
	if !l.hasLast {
		return true
	}
	switch l.lastKind {
	case tWord, tParam:
		return false
	case tPunct:
		return l.lastText != ")"
	}
	return true
}

// blockComment returns the end of the (nesting) comment starting at s[i:i+2] == "/*".
func blockComment(s string, i int) (int, uint8) {
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
				return j, 0
			}
		default:
			j++
		}
	}
	return len(s), fOpen
}

// str returns the end of the string literal whose opening quote is s[q], with its
// continuations, and its flags: fOpen when unterminated, fPlain when it has no
// continuation, fBackslash when it holds a backslash. backslash makes a backslash escape
// the next byte (E'...').
func (l *lexer) str(s string, q int, backslash bool) (int, uint8) {
	fl := fPlain
	for {
		end, ok, bs := quoted(s, q, '\'', backslash)
		if bs {
			fl |= fBackslash
		}
		if !ok {
			return end, fl | fOpen
		}
		k := continuation(s, end)
		if k < 0 {
			return end, fl
		}
		fl &^= fPlain
		q = k
	}
}

// continuation returns the index of the quote that continues the string literal ending at
// s[end-1], or -1: SQL joins literals separated by white space holding a newline. In
// scan.l's terms, {whitespace_with_newline}{quote}: non-newline spaces and "--" comments,
// one newline, then spaces or comments each followed by a newline.
func continuation(s string, end int) int {
	k := end
	for k < len(s) {
		switch c := s[k]; {
		case c == ' ' || c == '\t' || c == '\f' || c == '\v':
			k++
			continue
		case c == '-' && k+1 < len(s) && s[k+1] == '-':
			k = lineEnd(s, k+2)
			continue
		}
		break
	}
	if k >= len(s) || s[k] != '\n' && s[k] != '\r' {
		return -1
	}
	for k++; k < len(s); {
		switch c := s[k]; {
		case isSpace(c):
			k++
			continue
		case c == '-' && k+1 < len(s) && s[k+1] == '-':
			k = lineEnd(s, k+2)
			if k >= len(s) {
				return -1
			}
			k++
			continue
		}
		break
	}
	if k < len(s) && s[k] == '\'' {
		return k
	}
	return -1
}

// quoted returns the end of the quoted run starting at s[i] == q and whether it was
// terminated; a doubled quote escapes it, and so does a backslash when backslash is set
// (E'...'). bs reports a backslash inside.
func quoted(s string, i int, q byte, backslash bool) (end int, ok, bs bool) {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			bs = true
			if backslash {
				j++
			}
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1, true, bs
		}
	}
	return len(s), false, bs
}

// dollarQuoted reads a dollar-quoted string starting at s[i] == '$': ok is false when no
// delimiter starts there ("$" alone, "$a b"), open when the closing delimiter is missing.
func dollarQuoted(s string, i int) (end int, ok, open bool) {
	j := i + 1
	for j < len(s) && s[j] != '$' {
		if !isIdentChar(s[j]) || isDigit(s[j]) && j == i+1 {
			return 0, false, false
		}
		j++
	}
	if j >= len(s) {
		return 0, false, false
	}
	tag := s[i : j+1]
	for k := j + 1; k+len(tag) <= len(s); k++ {
		if s[k] == '$' && s[k:k+len(tag)] == tag {
			return k + len(tag), true, false
		}
	}
	return len(s), true, true
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

// word reads an identifier made of dotted parts, each plain, "double-quoted" or
// U&"unicode-quoted"; fOpen flags an unterminated quoted part, fUnicode a U& part.
func word(s string, i int) (int, uint8) {
	j := i
	var fl uint8
	for {
		switch {
		case j+2 < len(s) && (s[j] == 'u' || s[j] == 'U') && s[j+1] == '&' && s[j+2] == '"':
			end, ok, _ := quoted(s, j+2, '"', false)
			j, fl = end, fl|fUnicode
			if !ok {
				fl |= fOpen
			}
		case j < len(s) && s[j] == '"':
			end, ok, _ := quoted(s, j, '"', false)
			j = end
			if !ok {
				fl |= fOpen
			}
		default:
			for j < len(s) && isIdentChar(s[j]) {
				j++
			}
		}
		if j+1 < len(s) && s[j] == '.' && (isIdentStart(s[j+1]) || s[j+1] == '"') {
			j++
			continue
		}
		return j, fl
	}
}

// tokenize splits PostgreSQL text into tokens (for telemetry, which keeps them all).
func tokenize(s string) []token {
	toks := make([]token, 0, 16)
	l := lexer{s: s}
	for {
		t, ok := l.next()
		if !ok {
			return toks
		}
		toks = append(toks, t)
	}
}
