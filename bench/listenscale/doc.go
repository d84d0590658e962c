// Package listenscale measures what subscribing costs in package listen against raw LISTEN
// on one pgx connection: Subscribe one after another and from 8 goroutines at 10, 1 000 and
// 10 000 channels, the re-LISTEN of 10 000 channels after a lost connection, and the heap
// and goroutines per subscription. It has only tests; run
//
//	PGPROVIDER_MEASURE=1 go test -run TestListenScale -v -timeout 30m ./listenscale/
//
// for the full measurement (markdown tables on stdout, for bench/RESULTS-listen.md), or
// without the variable for a quick smoke version that CI runs. The full measurement pins this
// process and the timed connection's server backend to CPU 0, as bench/run.sh does for time
// ratios, when the server is the harness's own (LISTEN_PIN=0 turns it off).
package listenscale
