// Package otelbench measures what tracing costs on the client, without a server: the
// OpenTelemetry middleware (package pgotel) around executors that do nothing, and the
// OpenTelemetry SDK's own floor, one span started and ended with no instrumentation around it.
//
//	cd bench && go test -run '^$' -bench . -benchmem -count 6 ./otelbench/
//
// The server-side figures (ratios to raw pgx stdlib over PostgreSQL, the variants pgotel-noop,
// pgotel-metrics, pgotel-sdk and span-floor) come from bench/run.sh and are in RESULTS.md.
package otelbench
