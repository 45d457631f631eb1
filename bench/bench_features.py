"""Benchmark: features and weighted scores for 10,000 (name, version) rows from real histories.

Histories come from every real packument in ../shared/data/packuments (about 9,300 versions of
460 packages; the list is cycled to reach --rows). Prints the time of each step: building the
histories once per package, their JSON round trip (what a cache would do), `feature_row` per
row, `feature_frame`, and `WeightedScorer.score`, with rows per second.
Run: python bench/bench_features.py [--rows N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import shared_data  # noqa: E402

from scorer.features import (  # noqa: E402
    FeatureSettings,
    PackageHistory,
    feature_frame,
    feature_row,
    package_history,
)
from scorer.scoring import load_scorer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    documents = []
    for path in sorted(shared_data.for_script(shared_data.PACKUMENTS).rglob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and isinstance(doc.get("versions"), dict):
            documents.append(doc)

    t0 = time.perf_counter()
    histories = [package_history(doc) for doc in documents]
    t_history = time.perf_counter() - t0
    t0 = time.perf_counter()
    cached = [PackageHistory.from_json(json.loads(json.dumps(h.to_json()))) for h in histories]
    t_cache = time.perf_counter() - t0
    pairs = [(h, v) for h in cached for v in h.records]
    keys = list(itertools.islice(itertools.cycle(pairs), args.rows))

    t0 = time.perf_counter()
    import pandas  # noqa: F401  (timed apart: a one-off cost of the process, not of the rows)

    t_import = time.perf_counter() - t0
    now = datetime(2035, 1, 1, tzinfo=UTC)
    settings = FeatureSettings()
    scorer = load_scorer("weighted")
    print(f"packages: {len(documents)}, versions: {len(pairs)}, rows: {len(keys)}")
    print(f"package_history (once per package): {t_history * 1000:8.1f} ms")
    print(f"history JSON round trip (cache):     {t_cache * 1000:8.1f} ms")
    print(f"import pandas (once per process):    {t_import * 1000:8.1f} ms")
    for label in ("first pass (pandas warms up)", "second pass"):
        t0 = time.perf_counter()
        rows = [
            feature_row(h.name, v, h, None, None, "none", now=now, settings=settings)
            for h, v in keys
        ]
        t_rows = time.perf_counter() - t0
        t0 = time.perf_counter()
        frame = feature_frame(rows)
        t_frame = time.perf_counter() - t0
        t0 = time.perf_counter()
        scores = scorer.score(frame)
        t_score = time.perf_counter() - t0
        assert len(scores) == len(rows)
        total = t_rows + t_frame + t_score
        print(f"-- {label}")
        print(f"feature_row x {len(rows)}:               {t_rows * 1000:8.1f} ms")
        print(f"feature_frame:                       {t_frame * 1000:8.1f} ms")
        print(f"WeightedScorer.score:                {t_score * 1000:8.1f} ms")
        rate = len(rows) / total
        print(f"rows + frame + score:                {total * 1000:8.1f} ms = {rate:,.0f} rows/s")


if __name__ == "__main__":
    main()
