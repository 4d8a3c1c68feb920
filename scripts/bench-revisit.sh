#!/usr/bin/env bash
# The cost of a revisit crawl: a loopback site of N articles (default 1000), PCT % of them
# (default 5) changed between two crawls, the second crawl with and without validators against a
# full refetch of the same web (crates/caiji-bench/src/revisit.rs). Prints the machine's load.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p caiji-bench
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
target/release/caiji-bench revisit "${1:-1000}" "${2:-5}"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
