// Package listencmp compares pgprovider's listen package with lib/pq's Listener and
// jackc/pgxlisten against the same PostgreSQL server and the same sender: delivered throughput
// with one subscriber and notify-to-delivery latency. It has only tests; run
//
//	PGPROVIDER_MEASURE=1 go test -run TestListenerComparison -v ./listencmp/
//
// for the full measurement (a markdown table on stdout), or without the variable for a quick
// smoke version that CI runs.
package listencmp
