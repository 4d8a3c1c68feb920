#!/usr/bin/env python3
"""Scores published date and author of caiji JSON records against the CWCED metadata gold.

usage: score_meta.py GOLD_META_DIR RECORDS_DIR

GOLD_META_DIR holds date_ground.json and author_ground.json ({id: {"articleBody": value}},
"UNKNOWN" where the page states none). RECORDS_DIR holds <id>.json from `caiji parse`.

A date matches when every field the gold states (year, month, day; the time is ignored, since
gold times are inconsistent about seconds) equals caiji's. An author matches when the strings are
the same sequence of names
(separators aside). Prints, per field: accuracy over all pages (UNKNOWN must be left empty),
recall over the pages that state one, and precision over the pages caiji filled.
"""
import json
import re
import sys
from pathlib import Path


def date_fields(s):
    m = re.match(r"\s*(\d{4})(?:[-/.年](\d{1,2})(?:[-/.月](\d{1,2}))?)?", s or "")
    if not m:
        return None
    return tuple(int(x) for x in m.groups() if x is not None)


def score(name, gold, got, same):
    n = len(gold)
    right = stated = stated_right = filled = filled_right = 0
    misses = []
    for pid, g in sorted(gold.items()):
        v = got.get(pid)
        if g is None:
            ok = v is None
        else:
            stated += 1
            ok = v is not None and same(g, v)
            stated_right += ok
        if v is not None:
            filled += 1
            filled_right += g is not None and same(g, v)
        right += ok
        if not ok:
            misses.append(f"  {pid}: gold={g!r} caiji={v!r}")
    print(f"{name}: accuracy {right}/{n} = {right / n:.3f}; "
          f"recall {stated_right}/{stated} = {stated_right / max(stated, 1):.3f}; "
          f"precision {filled_right}/{filled} = {filled_right / max(filled, 1):.3f}")
    return misses


def main():
    gold_dir, rec_dir = Path(sys.argv[1]), Path(sys.argv[2])
    verbose = "-v" in sys.argv[3:]

    def load(name):
        raw = json.loads((gold_dir / name).read_text(encoding="utf-8"))
        # The gold spells "none stated" as UNKNOWN (once UNKNWON, once empty).
        return {k: (None if v["articleBody"].strip() in ("UNKNOWN", "UNKNWON", "") else v["articleBody"].strip())
                for k, v in raw.items()}

    dates, authors = load("date_ground.json"), load("author_ground.json")
    got_date, got_author = {}, {}
    for pid in dates:
        f = rec_dir / f"{pid}.json"
        rec = json.loads(f.read_text(encoding="utf-8")) if f.exists() else {}
        got_date[pid] = rec.get("published_at")
        got_author[pid] = rec.get("author")

    def same_date(g, v):
        gf, vf = date_fields(g), date_fields(v)
        return gf is not None and vf is not None and vf[: len(gf)] == gf

    m1 = score("date", dates, got_date, same_date)
    # Several names: the gold separates them with spaces or 、, caiji with one space.
    def names(s):
        return re.split(r"[\s、,，]+", s.strip())

    m2 = score("author", authors, got_author, lambda g, v: names(g) == names(v))
    if verbose:
        print("date misses:", *m1, "author misses:", *m2, sep="\n")


if __name__ == "__main__":
    main()
