"""Benchmark: the OSV malicious-package check, offline at corpus scale and online (issues 3, 13).

1. Offline, at the size of the real corpus: a 10,000-package lockfile against 25,000, 100,000
   and 250,000 npm records (the real corpus is in the hundreds of thousands), in each layout a
   database comes in: one JSON file in merge format ("file"), a directory tree laid out like
   the OpenSSF repository (`osv/malicious/npm/<name>/<id>.json`, withdrawn records under
   `osv/withdrawn/`: "tree") and an OSV `all.zip` with one record per member ("zip"). Records
   are the 101 real records of the shared data (tests/shared_data.py) repeated with renamed packages
   (`<name>-b<i>`) and ids, so they keep their real shapes (explicit `versions` lists,
   `introduced: "0"` SEMVER ranges, bounded ranges, GHSA ECOSYSTEM ranges, withdrawn records)
   in their real proportions: 250,000 of them are 482 MB as one JSON file. One in five locked
   packages is a name the database knows (at a listed, a ranged or a clean version), the rest
   are unknown names.
   Whole command: `provscore audit package-lock.json --db DB --format json` in a fresh
   interpreter, as a CI gate runs it. Cold: no index yet (a fresh cache directory). Warm: best
   of three later runs. Peak RSS is the command's own, as GNU time reports it (the largest
   of the command and the processes it forked to index; never the benchmark's).
   In process: `open_database` + `match` in a fresh interpreter, with the split between open
   and match, and the parent's and the index workers' peaks apart.
   Then a curve of each figure against database size, per layout.
2. Online: 2,000 unique versions against the mock OSV server in a separate process (so its
   threads do not share our GIL) with 50 ms added to every request; 1 in 20 versions is
   malicious. Round-trip lower bound: querybatch rounds (chunks / batch concurrency) plus record
   rounds (unique ids / fetch concurrency), each one latency.
Goals: offline at 250,000 records, every layout: cold <= 2 s, warm <= 0.3 s, peak <= 500 MB,
warm time flat in the database size; online within 1.5x of the bound.
Run: python bench/bench_osv.py [--sizes 25000,100000,250000] [--layouts file,tree,zip]
     [--packages N] [--workdir DIR (keeps the generated databases)] [--skip-online]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import shared_data  # noqa: E402
from osv_fixtures import real_records  # noqa: E402

from scorer.osv import match  # noqa: E402
from scorer.osv.client import OsvClient, query_osv  # noqa: E402
from scorer.osv.database import dump_database  # noqa: E402
from scorer.records import LockedPackage, SourceKind  # noqa: E402

LAYOUTS = ("file", "tree", "zip")
GOAL_COLD, GOAL_WARM, GOAL_PEAK = 2.0, 0.3, 500.0
TIME = "/usr/bin/time"  # GNU time, for the peak RSS of a command alone (see `run`)


class Corpus:
    """Record i of a synthetic database of `count` records, made on demand from the real
    records (never all held at once: the benchmark must not need the memory it measures)."""

    def __init__(self, count: int) -> None:
        self.count = count
        shared_data.for_script(shared_data.MAL_NPM)  # exit with a message, not a pytest skip
        shared_data.for_script(shared_data.GHSA_NPM)
        self.templates = [json.dumps(r) for r in real_records()]

    def record(self, i: int) -> dict[str, Any]:
        raw: dict[str, Any] = json.loads(self.templates[i % len(self.templates)])
        raw["id"] = f"MAL-9999-{i:07d}"  # zero-padded: generation order is id order
        raw["aliases"] = []
        for entry in raw.get("affected", []):
            entry["package"]["name"] = f"{entry['package']['name']}-b{i}"
        return raw

    def write(self, layout: str, target: Path) -> None:
        partial = target.with_name(target.name + ".partial")
        if partial.is_dir():
            shutil.rmtree(partial)
        partial.unlink(missing_ok=True)
        if layout == "file":
            # What `merge_database` writes (dump_database), one line at a time.
            with open(partial, "w", encoding="utf-8") as out:
                head, _, foot = dump_database([]).partition("\n")
                out.write(head + "\n")
                for i in range(self.count):
                    line = json.dumps(
                        self.record(i), sort_keys=True, ensure_ascii=False, separators=(",", ":")
                    )
                    out.write(line + (",\n" if i + 1 < self.count else "\n"))
                out.write(foot)
        elif layout == "tree":
            for i in range(self.count):
                raw = self.record(i)
                kind = "withdrawn" if raw.get("withdrawn") else "malicious"
                name = raw["affected"][0]["package"]["name"] if raw.get("affected") else "none"
                folder = partial / "osv" / kind / "npm" / name
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{raw['id']}.json").write_text(json.dumps(raw, indent=2))
        else:
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
                for i in range(self.count):
                    raw = self.record(i)
                    archive.writestr(f"{raw['id']}.json", json.dumps(raw, indent=2))
        partial.rename(target)


def probe_version(raw: dict[str, Any], pick: int) -> str:
    """A version of the record's first package: listed, at a range bound, or clean."""
    entry = raw["affected"][0]
    listed = entry.get("versions") or []
    if pick == 0 and listed:
        return str(listed[0])
    for rng in entry.get("ranges") or []:
        for event in rng["events"]:
            value = event.get("introduced")
            if pick == 1 and value and value != "0":
                return str(value)
    return "0.0.1-clean" if pick == 2 else "1.0.0"


def lockfile(corpus: Corpus, count: int, every: int = 5) -> list[LockedPackage]:
    """`count` packages; one in `every` is a name the database knows (1 in 5: a pessimistic
    load for the matcher; real lockfiles hold a handful of such names at most)."""
    packages = []
    for i in range(count):
        raw = corpus.record((i * 7919) % corpus.count) if i % every == 0 else None
        if raw is not None and raw.get("affected"):
            name, version = raw["affected"][0]["package"]["name"], probe_version(raw, i % 3)
        else:
            name, version = f"clean-package-{i}", f"{i % 7}.{i % 13}.{i % 5}"
        packages.append(LockedPackage(name, version, SourceKind.REGISTRY))
    return packages


def write_lock(packages: list[LockedPackage], path: Path) -> None:
    """A package-lock.json v3 of `packages`, half nested, as npm nests conflicting versions."""
    entries: dict[str, Any] = {"": {"name": "bench", "version": "1.0.0"}}
    for i, p in enumerate(packages):
        where = f"node_modules/{p.name}" if i % 2 else f"node_modules/h{i}/node_modules/{p.name}"
        entries[where] = {"version": p.version}
    path.write_text(json.dumps({"lockfileVersion": 3, "packages": entries}))


IN_PROCESS = """
import json, resource, sys, time
started = time.perf_counter()
from pathlib import Path
from scorer.osv import match, open_database
from scorer.records import LockedPackage, SourceKind
packages = [LockedPackage(n, v, SourceKind.REGISTRY) for n, v in json.load(open(sys.argv[2]))]
t0 = time.perf_counter()
index = open_database(sys.argv[1], cache_dir=Path(sys.argv[3]))
t1 = time.perf_counter()
found = match(packages, index)
t2 = time.perf_counter()
heavy = [m for m in ("pandas", "sklearn", "httpx") if m in sys.modules]
mine = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"open": t1 - t0, "match": t2 - t1, "hits": sum(map(bool, found)),
                  "rss": mine, "workers_rss": workers, "heavy": heavy}))
"""


def run(command: list[str], env: dict[str, str], code: Path) -> tuple[float, float, float, str]:
    """Wall time, CPU time (user + system, the command and its index workers), peak RSS in
    MB and stdout of one command. Peak and CPU come from GNU time: the largest RSS of the
    command and the children it reaped. Not wait4 from here: Linux carries a parent's peak
    into a forked child's, so every child of this benchmark would report at least the
    benchmark's own size. CPU time is the figure a busy machine disturbs least."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "usage"
        timed = [TIME, "-f", "%M %U %S", "-o", str(report), *command]
        with open(Path(tmp) / "out", "w+b") as out, open(Path(tmp) / "err", "w+b") as err:
            started = time.perf_counter()
            status = subprocess.run(timed, stdout=out, stderr=err, env=env, cwd=code).returncode
            wall = time.perf_counter() - started
            out.seek(0)
            err.seek(0)
            text, problem = out.read().decode(), err.read().decode()
        if status not in (0, 1) or not text.strip():
            raise RuntimeError(f"{command[1:5]} exited {status}: {problem[-2000:]}")
        peak, user, system = report.read_text().split()[-3:]
        return wall, float(user) + float(system), int(peak) / 1024, text


def size_of(path: Path) -> float:
    """MB on disk: the file, or every file of a tree."""
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(f.stat().st_size for f in path.rglob("*.json")) / 1e6


def offline(
    sizes: list[int], layouts: list[str], package_count: int, workdir: Path, code: Path
) -> list[dict[str, Any]]:
    results = []
    for size in sizes:
        corpus = Corpus(size)
        packages = lockfile(corpus, package_count)
        lock = workdir / f"lock-{size}-{package_count}" / "package-lock.json"
        lock.parent.mkdir(parents=True, exist_ok=True)
        write_lock(packages, lock)
        pairs = lock.with_name("packages.json")
        pairs.write_text(json.dumps([[p.name, p.version] for p in packages]))
        known = sum(1 for p in packages if not p.name.startswith("clean-package-"))
        for layout in layouts:
            db = (
                workdir
                / f"db-{size}"
                / {"file": "db.json", "tree": "tree", "zip": "all.zip"}[layout]
            )
            if not db.exists():
                db.parent.mkdir(parents=True, exist_ok=True)
                started = time.perf_counter()
                corpus.write(layout, db)
                print(f"  (made {db}: {time.perf_counter() - started:.0f} s)", flush=True)
            row = measure(db, lock, pairs, workdir / "cache", code)
            row.update(layout=layout, records=size, mb=size_of(db), packages=package_count)
            row["known"] = known
            results.append(row)
            show(row)
    return results


def measure(db: Path, lock: Path, pairs: Path, caches: Path, code: Path) -> dict[str, Any]:
    """Whole command cold and warm, then in process cold and warm, each with fresh caches."""
    shutil.rmtree(caches, ignore_errors=True)
    home = caches / "home"
    home.mkdir(parents=True)
    env = {
        "HOME": str(home),
        "XDG_CACHE_HOME": str(caches / "xdg"),
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(code),
    }
    command = [sys.executable, "-m", "scorer", "audit", str(lock), "--db", str(db)]
    command += ["--format", "json"]
    runs = [run(command, env, code) for _ in range(4)]
    findings = {json.loads(out)["counts"]["findings"] for _, _, _, out in runs}
    assert len(findings) == 1, f"cold and warm runs disagree: {findings}"
    script = [sys.executable, "-c", IN_PROCESS, str(db), str(pairs), str(caches / "inproc")]
    inproc = [run(script, env, code) for _ in range(3)]
    cold = json.loads(inproc[0][3])
    warm = min((json.loads(r[3]) for r in inproc[1:]), key=lambda r: r["open"] + r["match"])
    assert cold["hits"] == warm["hits"], "in-process cold and warm runs disagree"
    return {
        "findings": findings.pop(),
        "cold": runs[0][0],
        "cold_cpu": runs[0][1],
        "cold_peak": runs[0][2],
        "warm": min(r[0] for r in runs[1:]),
        "warm_cpu": min(r[1] for r in runs[1:]),
        "warm_peak": max(r[2] for r in runs[1:]),
        "in_cold_open": cold["open"],
        "in_cold_match": cold["match"],
        "in_cold_rss": cold["rss"],
        "in_cold_workers_rss": cold["workers_rss"],
        "in_warm_open": warm["open"],
        "in_warm_match": warm["match"],
        "in_warm_rss": warm["rss"],
        "hits": cold["hits"],
        "heavy": cold["heavy"],
    }


def flag(value: float, goal: float) -> str:
    """A goal line, not an assertion: timings live in benchmarks, not in tests."""
    return "ok" if value <= goal else "OVER"


def show(r: dict[str, Any]) -> None:
    print(
        f"{r['layout']:<4} {r['records']:>7,} records {r['mb']:>4.0f} MB | command: cold "
        f"{r['cold']:.2f} s ({flag(r['cold'], GOAL_COLD)}; CPU {r['cold_cpu']:.2f} s) peak"
        f" {r['cold_peak']:.0f} MB ({flag(r['cold_peak'], GOAL_PEAK)}), warm {r['warm']:.2f} s"
        f" ({flag(r['warm'], GOAL_WARM)}; CPU {r['warm_cpu']:.2f} s) peak"
        f" {r['warm_peak']:.0f} MB, {r['findings']} findings",
        flush=True,
    )
    print(
        f"{'':<4} in process: cold open {r['in_cold_open']:.2f} s + match "
        f"{r['in_cold_match']:.3f} s (parent {r['in_cold_rss']:.0f} MB, index workers "
        f"{r['in_cold_workers_rss']:.0f} MB); warm open {r['in_warm_open']:.3f} s + match "
        f"{r['in_warm_match']:.3f} s ({r['in_warm_rss']:.0f} MB); heavy modules: "
        f"{','.join(r['heavy']) or 'none'}",
        flush=True,
    )


def curve(results: list[dict[str, Any]]) -> None:
    """Each figure against database size, per layout; and whether warm time is flat."""
    print("\ncurve (whole command; in-process warm open+match) against database size:")
    print(
        f"{'layout':<6} {'records':>8} {'MB':>5} {'cold s':>7} {'cold CPU':>9} {'peak MB':>8}"
        f" {'warm s':>7} {'warm CPU':>9} {'warm MB':>8} {'in-proc warm s':>15}"
    )
    for layout in LAYOUTS:
        rows = sorted((r for r in results if r["layout"] == layout), key=lambda r: r["records"])
        for r in rows:
            print(
                f"{layout:<6} {r['records']:>8,} {r['mb']:>5.0f} {r['cold']:>7.2f}"
                f" {r['cold_cpu']:>9.2f} {r['cold_peak']:>8.0f} {r['warm']:>7.2f}"
                f" {r['warm_cpu']:>9.2f} {r['warm_peak']:>8.0f}"
                f" {r['in_warm_open'] + r['in_warm_match']:>15.3f}"
            )
        if len(rows) > 1:
            low, high = rows[0], rows[-1]
            ratio = high["warm"] / low["warm"]
            print(
                f"{'':<6} warm at {high['records']:,} / at {low['records']:,}: {ratio:.2f}x"
                f" for {high['records'] / low['records']:.0f}x the records (flat is 1.0)"
            )


SERVE = """
import json, sys
sys.path[:0] = [sys.argv[1]]
from osv_server import MockOsvServer
records = json.load(open(sys.argv[2]))["vulns"]
with MockOsvServer(records, latency=float(sys.argv[3])) as server:
    print(server.url, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
"""


def online(version_count: int, latency: float) -> None:
    records = []
    packages = []
    for i in range(version_count):
        name = f"bench-online-{i}"
        packages.append(LockedPackage(name, "1.0.0", SourceKind.REGISTRY))
        if i % 20 == 0:
            records.append(
                {
                    "id": f"MAL-8888-{i}",
                    "modified": "2025-01-01T00:00:00Z",
                    "affected": [
                        {
                            "package": {"ecosystem": "npm", "name": name},
                            "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}],
                        }
                    ],
                }
            )
    client = OsvClient()  # the defaults the CLI uses
    chunks = math.ceil(version_count / 1000)
    bound_rounds = math.ceil(chunks / client.batch_concurrency) + math.ceil(
        len(records) / client.fetch_concurrency
    )
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "records.json"
        db.write_text(json.dumps({"vulns": records}))
        server = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(ROOT / "tests"), str(db), str(latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        try:
            assert server.stdout is not None and server.stdin is not None
            url = server.stdout.readline().strip()
            query_osv(packages[:1], url)  # warm-up: imports, first connection
            started = time.perf_counter()
            result = query_osv(packages, url)
            wall = time.perf_counter() - started
        finally:
            assert server.stdin is not None
            server.stdin.close()
            server.wait(timeout=10)
    found = sum(map(bool, match(packages, result.advisories)))
    bound = bound_rounds * latency
    print(
        f"online: {version_count} versions, {latency * 1000:.0f} ms per request, "
        f"{found} flagged, {result.requests} requests"
    )
    print(
        f"  wall {wall:.3f} s, lower bound {bound:.3f} s ({bound_rounds} rounds), "
        f"ratio {wall / bound:.2f}   goal <= 1.5"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25000,100000,250000")
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--packages", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, help="keep the generated databases here")
    parser.add_argument(
        "--code", type=Path, default=ROOT, help="run the commands from this checkout (before/after)"
    )
    parser.add_argument("--json", type=Path, help="also write the offline figures here")
    parser.add_argument("--versions", type=int, default=2_000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--skip-online", action="store_true")
    args = parser.parse_args()
    if not Path(TIME).is_file():
        parser.error(f"{TIME} (GNU time) is needed to measure a command's peak memory")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    layouts = [name for name in args.layouts.split(",") if name]
    if set(layouts) - set(LAYOUTS):
        parser.error(f"--layouts: choose among {', '.join(LAYOUTS)}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        print(f"offline: {args.packages:,}-package lockfile, code from {args.code}", flush=True)
        results = offline(sizes, layouts, args.packages, workdir, args.code.resolve())
    curve(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if not args.skip_online:
        online(args.versions, args.latency)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (this benchmark process, not measured above): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
