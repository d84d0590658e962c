package middleware

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// State is the session state an operation declares it needs: run-time parameters such as
// search_path or a custom setting like app.tenant_id, by name and value. The operation runs on
// a backend whose settings have these values (see "Session state" in the package
// documentation). Treat a State as immutable once it is in a payload: build a new one with
// [State.With] rather than appending to a shared slice.
type State []struct{ Name, Value string }

// With returns a copy of s in which the setting name has the given value (added or replaced).
func (s State) With(name, value string) State {
	out := make(State, 0, len(s)+1)
	for _, x := range s {
		if x.Name != name {
			out = append(out, x)
		}
	}
	return append(out, struct{ Name, Value string }{name, value})
}

// Get returns the value of the named setting and whether s declares it.
func (s State) Get(name string) (string, bool) {
	for _, x := range s {
		if x.Name == name {
			return x.Value, true
		}
	}
	return "", false
}

// SearchPath returns the search_path value for the given schemas, each quoted as an identifier
// with pgx.Identifier.Sanitize (so a schema name can never inject another one), with pg_temp
// placed explicitly last so that a temporary table never shadows a schema's table.
func SearchPath(schemas ...string) string {
	var b strings.Builder
	for _, s := range schemas {
		b.WriteString(pgx.Identifier{s}.Sanitize())
		b.WriteString(", ")
	}
	b.WriteString("pg_temp")
	return b.String()
}
