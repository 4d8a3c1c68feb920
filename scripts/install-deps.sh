#!/usr/bin/env bash
# Installs what caiji needs beyond the Rust toolchain: the PostgreSQL server binaries
# (initdb, pg_ctl) for the private archive cluster. Idempotent; does nothing when present.
set -euo pipefail

have_pg() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

if have_pg; then
  echo "install-deps: PostgreSQL server binaries found"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: PostgreSQL server binaries missing; install the 'postgresql' package (Debian/Ubuntu) as root" >&2
    exit 1
  fi
fi
if command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: installing PostgreSQL server binaries (apt-get install postgresql)"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # The package's own cluster is not needed: caiji runs a private one.
  $SUDO apt-get install -y -qq --no-install-recommends postgresql postgresql-contrib >/dev/null
  # Debian starts a system cluster on install; caiji does not use it.
  $SUDO pg_ctlcluster --force 15 main stop 2>/dev/null || true
else
  echo "install-deps: no apt-get here; install PostgreSQL server binaries (initdb, pg_ctl) with your package manager" >&2
  exit 1
fi
have_pg || { echo "install-deps: initdb still not found after install" >&2; exit 1; }
