// Package scale measures pgprovider at scale against raw pgx stdlib in the same run:
//
//   - a tenant per statement rotating over 1 000 tenants (tenancy.Schema, a schema each, and
//     tenancy.RLS over one table), on 1 and 8 connections, against the same statement under a
//     single tenant and against raw pgx stdlib issuing SET search_path by hand before each
//     statement: time, allocations and bytes per statement, and the set_config round trips
//     per statement (counted by a pgx QueryTracer installed with pgprovider.WithConnConfig);
//   - 1 000 connections open at once: heap per connection after GC for raw pgx stdlib,
//     pgprovider with an empty chain, with five pass-through middleware and with the built-ins
//     (pgotel with a no-op tracer, retry, tenancy), and, with a heap profile, which
//     allocation costs what per connection.
//
// The full run writes bench/RESULTS-scale.md (a few minutes, 127.0.0.1 only):
//
//	cd bench && PGPROVIDER_MEASURE=1 go test -run TestScale -v -timeout 60m ./scale/
//
// Without PGPROVIDER_MEASURE, TestScale is a smoke run of the same code (20 connections, a
// few blocks) that writes nothing; the benchmarks run as plain go test benchmarks too:
//
//	cd bench && go test -run '^$' -bench TenantRotation -count 6 ./scale/ | tee t.txt && benchstat -col /variant t.txt
package scale
