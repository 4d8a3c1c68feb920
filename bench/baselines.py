#!/usr/bin/env python3
"""Times the Python main-content extractors on the same pages as `caiji-bench extract`.

  baselines.py DIR SECONDS

One process, pages read into memory first, one tool at a time, each looping over the pages
until SECONDS have passed. Prints one JSON line per tool: pages per second, ms per page, and
the process's peak RSS after that tool (ru_maxrss grows monotonically, so later tools include
earlier ones' peak).
"""
import json
import os
import resource
import sys
import time


def load(d):
    pages = []
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            pages.append(f.read())
    return pages


def decode(b):
    # readability wants text; decode outside the timed loop (charset is not its job).
    for enc in ("utf-8", "gb18030"):
        try:
            return b.decode(enc)
        except UnicodeDecodeError:
            pass
    return b.decode("gb18030", errors="replace")


def run(name, fn, inputs, seconds):
    for x in inputs:  # warm-up
        fn(x)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for x in inputs:
            fn(x)
            n += 1
    secs = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"tool": name, "pages": n, "seconds": secs, "pages_per_second": n / secs,
                      "ms_per_page": secs * 1000 / n, "peak_rss_mb": rss}), flush=True)


def main():
    d, seconds = sys.argv[1], float(sys.argv[2])
    pages = load(d)
    texts = [decode(b) for b in pages]

    from resiliparse.parse.html import HTMLTree
    from resiliparse.extract.html2text import extract_plain_text
    run("resiliparse", lambda b: extract_plain_text(HTMLTree.parse_from_bytes(b), main_content=True), pages, seconds)

    import trafilatura
    run("trafilatura", lambda b: trafilatura.extract(b), pages, seconds)

    from readability import Document
    run("readability-lxml", lambda t: Document(t).summary(), texts, seconds)


if __name__ == "__main__":
    main()
