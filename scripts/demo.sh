#!/usr/bin/env bash
# The demo: starts a temporary primary + replica cluster (or uses DATABASE_URL), shows the
# driver at work with a logging middleware, and tears everything down.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-postgres.sh >/dev/null
exec go run ./cmd/demo "$@"
