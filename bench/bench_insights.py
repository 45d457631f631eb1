"""Benchmark: publication context for many versions against local servers with injected latency.

1. 2,000 unique versions through the insights client against the mock insights server
   (separate process, 50 ms added to every request).
2. 1,500 packuments through the registry client against a local registry (separate process,
   50 ms per request) serving the real npm-cli registry-mock documents from ../shared/data
   under 1,500 names; then the same again with a warm cache (expect no full downloads).

The round-trip lower bound is ceil(requests / concurrency) x latency: what the requests would
take if every request cost exactly its latency and nothing else. Goals (issue 4): <= 25 GraphQL
requests, wall within 1.5x of the bound for both, warm cache = zero full downloads.
Run: python bench/bench_insights.py [--versions N] [--packuments N] [--latency S]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import shared_data  # noqa: E402


def serve_registry(latency: float, count: int) -> None:
    """Child process: serve `count` documents named bench-<i>-<real name> until killed."""
    from insights_fixtures import registry_server

    mocks = shared_data.for_script(shared_data.REGISTRY_MOCKS)
    sources = sorted(p for p in mocks.rglob("*.json") if p.name != "MANIFEST.jsonl")
    docs = {}
    for i in range(count):
        doc = json.loads(sources[i % len(sources)].read_text(encoding="utf-8"))
        docs[f"bench-{i}"] = doc
    with registry_server(docs, latency=latency) as state:
        for name in docs:  # serialise up front: measure the client, not the server's json.dumps
            state.body(name)
        print(state.url, flush=True)
        while True:
            time.sleep(3600)


def start(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line:
        proc.kill()
        raise SystemExit(f"server did not start: {args}")
    return proc, line.split()[2] if line.startswith("insights server:") else line


def bench_insights(count: int, latency: float, concurrency: int) -> None:
    from scorer.insights.client import InsightsClient

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "records.json"
        rows = [
            {
                "name": f"bench-{i}",
                "version": "1.0.0",
                "username": f"user{i % 97}",
                "created": "2024-01-01T00:00:00.000Z",
                "tor": i % 50 == 0,
                "tfa": i % 7 != 0,
            }
            for i in range(count)
        ]
        data.write_text(json.dumps(rows))
        code = (
            "from scorer.insights.server import serve; "
            f"serve({str(data)!r}, port=0, latency={latency})"
        )
        proc, url = start(["-c", code])
        try:
            InsightsClient(url).fetch_sync([("warm-up", "0")])  # imports and first connection
            client = InsightsClient(url, concurrency=concurrency)
            began = time.perf_counter()
            answers = client.fetch_sync((f"bench-{i}", "1.0.0") for i in range(count))
            wall = time.perf_counter() - began
        finally:
            proc.terminate()
            proc.wait()
    known = sum(1 for a in answers.values() if a.found)
    bound = math.ceil(client.stats.requests / concurrency) * latency
    print(
        f"insights: {count} versions, {known} answered, {client.stats.requests} requests "
        f"(batch {client.batch_size}, concurrency {concurrency}), wall {wall:.3f} s, "
        f"bound {bound:.3f} s, ratio {wall / bound:.2f}"
    )


def bench_registry(count: int, latency: float, concurrency: int) -> None:
    from scorer.npmrc import RegistrySelection
    from scorer.registry import RegistryClient

    proc, url = start([__file__, "--serve-registry", str(count), "--latency", str(latency)])
    try:
        names = [f"bench-{i}" for i in range(count)]
        with tempfile.TemporaryDirectory() as cache:
            for label in ("cold", "warm"):
                client = RegistryClient(
                    RegistrySelection(url, "--registry", True),
                    cache_dir=Path(cache),
                    concurrency=concurrency,
                )
                began = time.perf_counter()
                results = client.fetch_sync(names)
                wall = time.perf_counter() - began
                ok = sum(1 for r in results.values() if r.document is not None)
                bound = math.ceil(client.stats.requests / concurrency) * latency
                print(
                    f"registry ({label} cache): {count} packuments, {ok} fetched, "
                    f"{client.stats.requests} requests, "
                    f"{client.stats.full_downloads} full downloads, "
                    f"{client.stats.not_modified} not modified (concurrency {concurrency}), "
                    f"wall {wall:.3f} s, bound {bound:.3f} s, ratio {wall / bound:.2f}"
                )
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=2000)
    parser.add_argument("--packuments", type=int, default=1500)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--insights-concurrency", type=int, default=8)
    parser.add_argument("--registry-concurrency", type=int, default=16)
    parser.add_argument("--serve-registry", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_registry:
        serve_registry(args.latency, args.serve_registry)
        return
    bench_insights(args.versions, args.latency, args.insights_concurrency)
    bench_registry(args.packuments, args.latency, args.registry_concurrency)


if __name__ == "__main__":
    main()
