// Package replicabench measures package replica: failover times over 20 runs (a primary, a
// synchronous standby and an asynchronous one, under write and read load), how fast an idle
// client notices a killed primary, the monitor's probe rate, and what a replica read through
// the Router costs against raw pgx stdlib on the same replica.
//
//	cd bench && PGPROVIDER_MEASURE=1 go test -run TestReplicaFigures -v -timeout 30m ./replicabench/
//
// rewrites bench/RESULTS-replica.md (about ten minutes). Without PGPROVIDER_MEASURE the same
// test is a smoke run: one failover, one kill of an idle primary and a few interleaved reads.
// BenchmarkReplicaRead is the plain go test benchmark of the same reads.
package replicabench
