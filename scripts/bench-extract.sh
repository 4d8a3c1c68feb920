#!/usr/bin/env bash
# caiji's generic extractor vs trafilatura, readability-lxml and resiliparse (Python, from a venv
# made here) and the Rust crates dom_smoothie and rs-trafilatura (bench/peers), on the same
# pages in one go (one core each, in-process loops, pages in memory). Ratios are against
# baselines measured in the same run, since these machines are noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
pages=${1:-../shared/bench/cwced-zh/html}
seconds=${SECONDS_PER_TOOL:-5}
venv=target/bench-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import trafilatura, readability, resiliparse' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q trafilatura
  "$venv/bin/pip" install -q readability-lxml lxml_html_clean
  "$venv/bin/pip" install -q resiliparse
fi
cargo build -q --release -p caiji-bench
cargo build -q --release --manifest-path bench/peers/Cargo.toml --target-dir target/peers
out=target/bench-extract.jsonl
taskset -c 0 target/release/caiji-bench extract "$pages" "$seconds" > "$out"
taskset -c 0 "$venv/bin/python" bench/baselines.py "$pages" "$seconds" >> "$out"
taskset -c 0 target/peers/release/caiji-peers speed "$pages" "$seconds" >> "$out"
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
caiji = rows[0]
print(f"{'tool':<18} {'pages/s':>9} {'ms/page':>9} {'peak RSS MB':>12}  caiji speed ratio")
for r in rows:
    ratio = caiji["pages_per_second"] / r["pages_per_second"]
    print(f"{r['tool']:<18} {r['pages_per_second']:>9.1f} {r['ms_per_page']:>9.2f} {r['peak_rss_mb']:>12.1f}  {ratio:>6.2f}x")
PY
