#!/usr/bin/env python3
"""Writes trafilatura's published date and author for each page, in caiji's record shape, so
bench/score_meta.py scores both on the same gold.

  trafilatura_meta.py PAGES_DIR OUT_DIR
"""
import json
import os
import sys

from trafilatura import extract_metadata


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    for name in sorted(os.listdir(src)):
        with open(os.path.join(src, name), "rb") as f:
            raw = f.read()
        for enc in ("utf-8", "gb18030"):
            try:
                html = raw.decode(enc)
                break
            except UnicodeDecodeError:
                html = None
        html = html or raw.decode("gb18030", errors="replace")
        meta = extract_metadata(html)
        rec = {"published_at": meta.date if meta else None, "author": meta.author if meta else None}
        stem = name.rsplit(".", 1)[0]
        with open(os.path.join(out, stem + ".json"), "w", encoding="utf-8") as f:
            json.dump(rec, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
