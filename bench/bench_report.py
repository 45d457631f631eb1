"""Benchmark: `provscore report` on a 10,000-package lockfile, cold and warm (issue 7 section 6).

The lockfile is bench/biglock.py's (real names, versions and integrity hashes; about 1,200
unique names). A local registry in a child process (tests/insights_fixtures.py `registry_server`,
with injected latency) serves a real-size document for every locked name: the name's own real
document when ../shared/data has one (npm-cli registry mocks), else a real document of another
package renamed, with the locked versions added as copies of its latest version (constructed,
marked `_provscore_constructed`). The OSV database is bench/bench_osv.py's synthetic 25,000
records plus one record per 500 locked names, so the malicious part has hits.

Each run is the real command in a fresh interpreter (`python -m scorer report LOCK --db ...
--registry URL --cache-dir DIR --now ...`), its wall time measured here and its peak RSS from
`os.wait4`. The command prints its own split to stderr under PROVSCORE_TIMINGS=1 (seconds per
stage; `startup` below is the wall minus their sum: interpreter, imports, option parsing, exit).
Runs, in order, after one `provscore audit` that builds the OSV index cache:
  cold         empty cache, the registry sends max-age=0: every document downloaded
  revalidate   every cached entry stale: conditional requests, 304 answers
  refresh      the registry now sends max-age=300: 304s again, entries become fresh
  warm         every entry fresh: no request (best of --runs)
Bounds: warm <= 1.5 s and <= 300 MB. Cold <= 1.5 x (warm wall + ceil(requests / concurrency) x
latency + the time to decode every document once with the decoder the client uses).
Run: python bench/bench_report.py [--packages N] [--latency S] [--format F] [--runs N]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "tests")]

import biglock  # noqa: E402

NOW = "2026-01-15T00:00:00Z"
CONCURRENCY = 16  # RegistryClient's default, which `provscore report` uses


def locked(lock: Mapping[str, Any]) -> dict[str, list[str]]:
    """name -> locked versions of a package-lock.json v3."""
    out: dict[str, list[str]] = {}
    for key, entry in lock["packages"].items():
        if key:
            out.setdefault(key.rsplit("node_modules/", 1)[-1], []).append(entry["version"])
    return out


def documents(n: int) -> dict[str, dict[str, Any]]:
    """A real-size registry document for every name locked by biglock.build(n)."""
    _, lock = biglock.build(n)
    real: dict[str, dict[str, Any]] = {}
    for path in sorted(biglock.packuments().rglob("*.json")):
        if not path.name.endswith(".min.json"):
            doc = json.loads(path.read_text(encoding="utf-8"))
            real.setdefault(doc["name"], doc)
    templates = [real[k] for k in sorted(real)]
    docs: dict[str, dict[str, Any]] = {}
    for i, (name, versions) in enumerate(sorted(locked(lock).items())):
        if name in real and all(v in real[name]["versions"] for v in versions):
            docs[name] = real[name]
            continue
        doc = copy.deepcopy(real.get(name) or templates[i % len(templates)])
        latest = doc.get("dist-tags", {}).get("latest") or sorted(doc["versions"])[-1]
        for version in versions:
            if version not in doc["versions"]:
                manifest = copy.deepcopy(doc["versions"][latest])
                manifest.update(name=name, version=version, _id=f"{name}@{version}")
                doc["versions"][version] = manifest
                doc.setdefault("time", {})[version] = doc.get("time", {}).get(latest)
        doc["name"] = doc["_id"] = name
        doc["_provscore_constructed"] = "bench: a real document renamed, locked versions added"
        docs[name] = doc
    return docs


def serve(n: int, latency: float, max_age: int) -> None:
    """Child process: serve documents(n); stdin lines `max-age N` and `stats` control it."""
    from insights_fixtures import registry_server

    docs = documents(n)
    with registry_server(docs, latency=latency, max_age=max_age) as state:
        for name in docs:  # serialise up front: measure the client, not the server's json.dumps
            state.body(name)
        print(state.url, flush=True)
        for line in sys.stdin:
            command, *arg = line.split()
            if command == "max-age":
                state.max_age = int(arg[0])
            elif command == "stats":
                with state.lock:
                    conditional = sum(1 for _, h in state.requests if "if-none-match" in h)
                    asked = len(state.requests)
                    state.requests.clear()
                size = sum(len(state.body(name)[0]) for name in docs)
                print(asked, conditional, len(docs), size, flush=True)


def osv_database(path: Path, names: list[str], records: int) -> None:
    from bench_osv import Corpus

    from scorer.osv import Advisory, merge_database

    corpus = Corpus(records)
    raws = [corpus.record(i) for i in range(records)]
    for i, name in enumerate(names[::500]):
        raws.append(
            {
                "id": f"MAL-7777-{i}",
                "modified": "2025-01-01T00:00:00Z",
                "summary": "bench: constructed malicious record",
                "affected": [
                    {
                        "package": {"ecosystem": "npm", "name": name},
                        "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}],
                    }
                ],
            }
        )
    merge_database(path, [Advisory.from_osv(r) for r in raws])


def run(command: list[str], env: Mapping[str, str], out: Path) -> dict[str, Any]:
    """One child process: wall, CPU seconds, peak RSS (MB) and the stage timings it printed.
    The RSS comes from /usr/bin/time: a child forked from this (large) process would count the
    parent's pages it held before exec in its own ru_maxrss."""
    rss_file = out / "rss"
    timed = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *command]
    with (out / "stdout").open("wb") as stdout, (out / "stderr").open("wb") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(timed, stdout=stdout, stderr=stderr, env=dict(env), cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = (out / "stderr").read_text()
    if proc.returncode not in (0, 1) or not rss_file.stat().st_size:
        raise SystemExit(f"{' '.join(command)} exited {proc.returncode}:\n{err}")
    timings: dict[str, float] = {}
    for line in err.splitlines():
        if line.startswith("provscore timings: "):
            timings = json.loads(line.removeprefix("provscore timings: "))
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss": int(rss_file.read_text().split()[-1]) / 1024,
        "timings": timings,
        "stdout_bytes": (out / "stdout").stat().st_size,
    }


def decode_seconds(docs: Mapping[str, Any]) -> tuple[float, int]:
    """Seconds to decode every body once with the registry client's decoder (best of 3)."""
    from scorer.registry import decode_json

    bodies = [json.dumps(d).encode() for d in docs.values()]
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        for body in bodies:
            decode_json(body)
        best = min(best, time.perf_counter() - started)
    return best, sum(map(len, bodies))


def show(label: str, result: Mapping[str, Any], stats: tuple[int, int]) -> None:
    t = dict(result["timings"])
    startup = result["wall"] - sum(t.values())
    split = ", ".join(f"{k} {v:.3f}" for k, v in t.items())
    print(
        f"{label:<11} wall {result['wall']:.3f} s  cpu {result['cpu']:.3f} s  "
        f"peak RSS {result['rss']:.0f} MB  "
        f"requests {stats[0]} ({stats[1]} conditional)"
    )
    print(f"            split: startup {startup:.3f}, {split}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--records", type=int, default=25_000)
    parser.add_argument("--format", default="text")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--max-age", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.latency, args.max_age)
        return

    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.packages), "--latency", str(args.latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        url = server.stdout.readline().strip()
        if not url:
            raise SystemExit("the registry server did not start")

        def control(line: str) -> list[int]:
            assert server.stdin is not None and server.stdout is not None
            server.stdin.write(line + "\n")
            server.stdin.flush()
            return [int(x) for x in server.stdout.readline().split()] if line == "stats" else []

        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            lock = biglock.write(root / "project", args.packages)
            names = sorted(locked(json.loads(lock.read_text())))
            db = root / "osv.json"
            osv_database(db, names, args.records)
            env = {
                "HOME": str(root / "home"),
                "XDG_CACHE_HOME": str(root / "xdg"),
                "PATH": "/usr/bin:/bin",
                "PYTHONPATH": str(ROOT),
                "PROVSCORE_TIMINGS": "1",
            }
            base = [sys.executable, "-m", "scorer"]
            audit = run([*base, "audit", str(lock), "--db", str(db)], env, root)
            print(
                f"{args.packages} locked packages, {len(names)} names; latency "
                f"{args.latency * 1000:.0f} ms, concurrency {CONCURRENCY}, --format {args.format}"
            )
            print(
                f"audit (builds the OSV index cache): wall {audit['wall']:.3f} s, "
                f"peak RSS {audit['rss']:.0f} MB"
            )
            command = [
                *base,
                "report",
                str(lock),
                "--db",
                str(db),
                "--registry",
                url,
                "--cache-dir",
                str(root / "cache"),
                "--now",
                NOW,
                "--format",
                args.format,
            ]
            control("stats")
            results = {}
            for label in ("cold", "revalidate", "refresh", "warm"):
                if label == "refresh":
                    control("max-age 300")
                best = None
                for _ in range(args.runs if label == "warm" else 1):
                    result = run(command, env, root)
                    stats = control("stats")
                    if best is None or result["wall"] < best[0]["wall"]:
                        best = (result, stats)
                assert best is not None
                results[label] = best
                show(label, *best)
            _, _, documents_served, size = control("stats")
        decode, _ = decode_seconds(documents(args.packages))
    finally:
        server.stdin.close()
        server.terminate()
        server.wait()

    warm, cold = results["warm"][0], results["cold"][0]
    rounds = math.ceil(results["cold"][1][0] / CONCURRENCY)
    bound = warm["wall"] + rounds * args.latency + decode
    print(
        f"documents: {documents_served}, {size / 1e6:.1f} MB; decoding them all once: "
        f"{decode:.3f} s"
    )
    print(
        f"warm: {warm['wall']:.3f} s (goal <= 1.5 s), peak RSS {warm['rss']:.0f} MB "
        f"(goal <= 300 MB)"
    )
    print(
        f"cold: {cold['wall']:.3f} s, bound {bound:.3f} s (warm {warm['wall']:.3f} + {rounds} "
        f"rounds x {args.latency * 1000:.0f} ms + decode {decode:.3f}), ratio "
        f"{cold['wall'] / bound:.2f} (goal <= 1.5), peak RSS {cold['rss']:.0f} MB"
    )


if __name__ == "__main__":
    main()
