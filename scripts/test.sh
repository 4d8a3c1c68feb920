#!/usr/bin/env bash
# Every test of the workspace (real PostgreSQL, loopback HTTP), then the tests' private
# PostgreSQL cluster is stopped again: a test run leaves no server behind. Then
# scripts/check-interop.sh (warcio and pyarrow read what caiji writes). Exit status: the first failure's.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh -p caiji-crawl`).
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
cargo test --workspace "$@"
status=$?
# Another implementation reads caiji's WARC and Parquet output (warcio, pyarrow in a venv).
if [ $status -eq 0 ] && [ $# -eq 0 ]; then
  scripts/check-interop.sh
  status=$?
fi
# The cluster the tests share (crates/caiji-archive/src/testing.rs: test_cluster_root).
digest=$(printf '%s' "$(pwd -P)/crates/caiji-archive" | sha256sum | cut -c1-10)
root="${TMPDIR:-/tmp}/caiji-test-pg-$digest"
caiji="${CARGO_TARGET_DIR:-target}/debug/caiji"
if [ -z "${DATABASE_URL:-}" ] && [ -f "$root/data/postmaster.pid" ] && [ -x "$caiji" ]; then
  "$caiji" --config config/caiji.toml --data-dir "$root" db stop >/dev/null 2>&1 \
    && echo "test.sh: stopped the tests' PostgreSQL cluster ($root)"
fi
echo "test.sh: cargo test exited $status after $(( $(date +%s) - started )) s"
exit $status
