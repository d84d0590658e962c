#!/usr/bin/env bash
# Installs the PostgreSQL server binaries with apt-get when none are found (Debian), so that
# the test harness can start its own clusters. Prints the bin directory it found.
set -euo pipefail
find_bin() {
  if [ -n "${PGBINDIR:-}" ] && [ -x "$PGBINDIR/initdb" ]; then echo "$PGBINDIR"; return; fi
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}
bin=$(find_bin || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "PostgreSQL server binaries not found: installing them with apt-get"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
  bin=$(find_bin)
fi
id postgres >/dev/null 2>&1 || { echo "the postgres OS user is missing (the harness runs the server as it when root)"; exit 1; }
echo "using $bin ($("$bin/postgres" --version))"
