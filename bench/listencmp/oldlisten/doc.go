// Package oldlisten is a verbatim copy of package listen as of commit 2907d77 (its own
// protocol reader, wire.go, next to pgconn), kept only while bench/listencmp measures it
// against the pgconn-based reader in the same run. It is deleted once the figures are in
// bench/RESULTS-listen.md.
package oldlisten
