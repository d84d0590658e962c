#!/usr/bin/env bash
# Runs every benchmark of pgprovider against raw pgx stdlib, XSAM/otelsql and ngrok/sqlmw in one
# process (a temporary PostgreSQL from the project's harness, or $BENCH_DSN), prints benchstat
# output and ratio tables, and writes bench/RESULTS.md. Extra arguments go to cmd/benchreport
# (-short: one iteration of each case, nothing written; -rounds, -benchtime, -blocks, -block-ops,
# -variants, -workloads, -conns, -mem, -pin=false).
set -euo pipefail
cd "$(dirname "$0")"
exec go run ./cmd/benchreport "$@"
