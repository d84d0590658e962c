#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this script). On a fresh Debian machine
# with Go it installs the PostgreSQL server binaries when they are missing. Every test starts
# its own temporary PostgreSQL clusters; none uses a server already running.
set -euo pipefail
cd "$(dirname "$0")/.."
export CI="${CI:-true}"
start=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$*" "$(( $(date +%s) - start ))"; }

step "PostgreSQL server binaries"
bash scripts/ensure-postgres.sh

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "not formatted:"; echo "$unformatted"; exit 1; fi

step "go vet"
go vet ./...

step "exported surface: a doc comment on every exported identifier, at most 350 in all"
go run ./cmd/internal/apicheck -max 350 .

step "go test -race (with statement coverage per package)"
go test -race -count=1 -timeout 15m -cover ./... 2>&1 | tee /tmp/pgprovider-test.log
grep -q '^ok' /tmp/pgprovider-test.log

step "tenant isolation stress, 100 000 statements per mode, without the race detector"
go test -count=1 -run 'TestStressIsolation' -v ./tenancy/ 2>&1 | grep -E '^(---|ok|FAIL|PASS)|statements|leak' | tee /tmp/pgprovider-stress.log
grep -q '^ok' /tmp/pgprovider-stress.log

step "root package again on Go 1.27 (driver.RowsColumnScanner)"
GOTOOLCHAIN=go1.27.3 go test -count=1 -timeout 10m .

if [ -f bench/go.mod ]; then
  step "benchmark smoke run (one iteration each)"
  (cd bench && go test -short -count=1 -bench . -benchtime=1x -timeout 10m ./...)
fi

if [ -f integration/orm/go.mod ]; then
  step "sqlx and GORM integration (own module; runs examples/sqlx and examples/gorm)"
  (cd integration/orm && go vet ./... && go test -race -count=1 -timeout 5m ./...)
fi

step "done in $(( $(date +%s) - start ))s"
