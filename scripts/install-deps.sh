#!/usr/bin/env bash
# Installs what caiji needs beyond the Rust toolchain: the PostgreSQL server binaries (initdb,
# pg_ctl) for the private archive cluster, and Python's venv (scripts/check-interop.sh puts
# warcio and pyarrow in one). Idempotent; does nothing when both are present.
set -euo pipefail

have_pg() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}
have_venv() { python3 -c 'import venv, ensurepip' >/dev/null 2>&1; }

packages=()
if have_pg; then echo "install-deps: PostgreSQL server binaries found"; else packages+=(postgresql postgresql-contrib); fi
if have_venv; then echo "install-deps: python3 venv found"; else packages+=(python3-venv); fi
[ ${#packages[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: missing ${packages[*]}; install them (Debian/Ubuntu packages) as root" >&2
    exit 1
  fi
fi
if command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: installing ${packages[*]} (apt-get install)"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # The package's own cluster is not needed: caiji runs a private one.
  $SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  # Debian starts a system cluster on install; caiji does not use it.
  $SUDO pg_ctlcluster --force 15 main stop 2>/dev/null || true
else
  echo "install-deps: no apt-get here; install ${packages[*]} (initdb, pg_ctl, python3 -m venv) with your package manager" >&2
  exit 1
fi
have_pg || { echo "install-deps: initdb still not found after install" >&2; exit 1; }
have_venv || { echo "install-deps: python3 -m venv still unavailable after install" >&2; exit 1; }
