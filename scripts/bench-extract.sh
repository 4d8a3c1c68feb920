#!/usr/bin/env bash
# caiji's generic extractor vs trafilatura, readability-lxml and resiliparse (Python, from a venv
# made here) and the Rust crates dom_smoothie and rs-trafilatura (bench/peers), on the same
# pages in one go (one core each, in-process loops, pages in memory). Ratios are against
# baselines measured in the same run, since these machines are noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
pages=${1:-bench/cwced-zh/html}
seconds=${SECONDS_PER_TOOL:-3}
venv=target/bench-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import trafilatura, readability, resiliparse' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q trafilatura
  "$venv/bin/pip" install -q readability-lxml lxml_html_clean
  "$venv/bin/pip" install -q resiliparse
fi
cargo build -q --release -p caiji-bench
cargo build -q --release --manifest-path bench/peers/Cargo.toml --target-dir target/peers
# These machines are noisy (the same loop varies by a third from one minute to the next), so
# the tools run in ROUNDS interleaved rounds; caiji's ratio to each tool is taken within each
# round, and the median and range over rounds are printed.
rounds=${ROUNDS:-5}
out=target/bench-extract.jsonl
: > "$out"
for r in $(seq 1 "$rounds"); do
  taskset -c 0 target/release/caiji-bench extract "$pages" "$seconds" | sed "s/^{/{\"round\":$r,/" >> "$out"
  taskset -c 0 "$venv/bin/python" bench/baselines.py "$pages" "$seconds" | sed "s/^{/{\"round\":$r,/" >> "$out"
  taskset -c 0 target/peers/release/caiji-peers speed "$pages" "$seconds" | sed "s/^{/{\"round\":$r,/" >> "$out"
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
tools = list(dict.fromkeys(r["tool"] for r in rows))
by = {(r["round"], r["tool"]): r for r in rows}
rounds = sorted({r["round"] for r in rows})
caiji = tools[0]
print(f"{len(rounds)} interleaved rounds, one core each; medians over rounds")
print(f"{'tool':<18} {'pages/s':>9} {'ms/page':>9} {'peak RSS MB':>12}  caiji speed ratio (median, min-max over rounds)")
for t in tools:
    pps = [by[(k, t)]["pages_per_second"] for k in rounds if (k, t) in by]
    ratios = [by[(k, caiji)]["pages_per_second"] / by[(k, t)]["pages_per_second"] for k in rounds if (k, t) in by]
    rss = max(by[(k, t)].get("peak_rss_mb") or 0 for k in rounds if (k, t) in by)
    med = statistics.median(pps)
    print(f"{t:<18} {med:>9.1f} {1000 / med:>9.2f} {rss:>12.1f}  {statistics.median(ratios):>6.2f}x  ({min(ratios):.2f}-{max(ratios):.2f})")
PY
