package main

import (
	"io"
	"log/slog"

	"github.com/pgprovider/pgprovider/middleware/pgslog"
)

// newLogger returns the pgslog middleware, logging every operation to w as a text line
// prefixed with "  | ", without the fields the demo does not need.
func newLogger(w io.Writer) *pgslog.Logger {
	keep := map[string]bool{"level": true, "msg": true, "db.query.text": true, "db.response.returned_rows": true, "duration": true, "error": true}
	h := slog.NewTextHandler(indented{w}, &slog.HandlerOptions{
		Level: slog.LevelDebug, // pgslog logs successful statements at debug
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if !keep[a.Key] {
				return slog.Attr{}
			}
			return a
		},
	})
	return pgslog.New(slog.New(h), pgslog.WithErrorMessages())
}

// indented prefixes each write (one log record) with "  | ".
type indented struct{ w io.Writer }

func (i indented) Write(p []byte) (int, error) {
	_, err := i.w.Write(append([]byte("  | "), p...))
	return len(p), err
}
