"""Lockfile parsing speed and memory: the largest real fixture of each format, and a
10,000-package package-lock.json assembled from real pieces (bench/biglock.py), compared side by
side with peers run here: `npm ls --all --json --package-lock-only` (whole command, Node start
included) and snyk-nodejs-lockfile-parser's parseNpmLockV2Project (in-process, timed in Node).

    python bench/bench_lockfiles.py [--repeat N] [--no-peers]

Prints packages/s, best and median wall time, CPU time and peak Python heap (tracemalloc) per
format, then the 10,000-package comparison as ratios.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import biglock

from scorer.lockfiles import LOCKFILE_NAMES, read_lockfile

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "lockfiles"
PEER_DIR = Path.home() / ".cache" / "provscore-bench" / "peer"
PEER_PACKAGE = "snyk-nodejs-lockfile-parser@2.10.4"


def largest_per_format() -> dict[str, Path]:
    best: dict[str, Path] = {}
    for case in sorted(FIXTURES.iterdir()):
        lock = next((case / n for n in LOCKFILE_NAMES if (case / n).is_file()), None)
        if lock is None:
            continue
        fmt = case.name.split("-", 1)[0]
        if fmt not in best or lock.stat().st_size > best[fmt].stat().st_size:
            best[fmt] = lock
    return best


def measure(path: Path, repeat: int) -> dict[str, float]:
    walls, cpus = [], []
    count = 0
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        count = len(read_lockfile(path).packages)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    tracemalloc.start()
    read_lockfile(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "packages": count,
        "best": min(walls),
        "median": statistics.median(walls),
        "cpu": min(cpus),
        "peak_mb": peak / 2**20,
        "size_mb": path.stat().st_size / 2**20,
    }


def npm_ls(directory: Path, repeat: int) -> float | None:
    if shutil.which("npm") is None:
        return None
    walls = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(
            ["npm", "ls", "--all", "--json", "--package-lock-only"],
            cwd=directory,
            capture_output=True,
            check=False,
        )
        walls.append(time.perf_counter() - start)
    return min(walls)


def provscore_cli(path: Path, repeat: int) -> float:
    walls = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "scorer", "lock", "list", str(path), "--format", "json"],
            capture_output=True,
            check=True,
        )
        walls.append(time.perf_counter() - start)
    return min(walls)


SNYK_SCRIPT = """
const fs = require('fs');
const p = require('snyk-nodejs-lockfile-parser');
const [dir, repeat] = [process.argv[2], Number(process.argv[3])];
const manifest = fs.readFileSync(dir + '/package.json', 'utf8');
const lock = fs.readFileSync(dir + '/package-lock.json', 'utf8');
(async () => {
  let best = Infinity, count = 0;
  for (let i = 0; i < repeat; i++) {
    const t = process.hrtime.bigint();
    const graph = await p.parseNpmLockV2Project(manifest, lock, {
      includeDevDeps: true, includeOptionalDeps: true, strictOutOfSync: false,
      pruneCycles: true });
    best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e9);
    count = graph.getPkgs().length;
  }
  console.log(JSON.stringify({best, count}));
})().catch(e => { console.error(String(e)); process.exit(1); });
"""


def snyk(directory: Path, repeat: int) -> dict[str, float] | None:
    if shutil.which("npm") is None:
        return None
    if not (PEER_DIR / "node_modules" / "snyk-nodejs-lockfile-parser").is_dir():
        PEER_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--prefix",
                str(PEER_DIR),
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                PEER_PACKAGE,
            ],
            capture_output=True,
            check=True,
        )
    script = PEER_DIR / "bench.js"
    script.write_text(SNYK_SCRIPT)
    out = subprocess.run(
        ["node", str(script), str(directory), str(repeat)],
        cwd=PEER_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        print(f"  snyk-nodejs-lockfile-parser failed: {out.stderr.strip()[:200]}")
        return None
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args()

    print(
        f"{'format':12} {'file':44} {'MB':>5} {'pkgs':>6} {'best s':>7} {'median':>7} "
        f"{'cpu s':>6} {'pkgs/s':>9} {'peak MB':>8}"
    )
    for fmt, path in sorted(largest_per_format().items()):
        m = measure(path, args.repeat)
        print(
            f"{fmt:12} {path.relative_to(FIXTURES)!s:44} {m['size_mb']:5.1f} "
            f"{m['packages']:6.0f} {m['best']:7.3f} {m['median']:7.3f} {m['cpu']:6.3f} "
            f"{m['packages'] / m['best']:9.0f} {m['peak_mb']:8.1f}"
        )

    with tempfile.TemporaryDirectory() as scratch:
        big = biglock.write(Path(scratch), 10_000)
        m = measure(big, args.repeat)
        entries = len(json.loads(big.read_text())["packages"]) - 1
        print(
            f"\n10,000-entry package-lock.json ({m['size_mb']:.1f} MB, {entries} entries, "
            f"{m['packages']:.0f} unique packages)"
        )
        print(
            f"  provscore in-process: best {m['best']:.3f} s, median {m['median']:.3f} s, "
            f"cpu {m['cpu']:.3f} s, {entries / m['best']:.0f} entries/s, "
            f"peak {m['peak_mb']:.1f} MB (goal < 0.3 s)"
        )
        cli = provscore_cli(big, max(3, args.repeat // 2))
        print(f"  provscore lock list --format json (whole command): {cli:.3f} s")
        if args.no_peers:
            return
        ls = npm_ls(Path(scratch), max(3, args.repeat // 2))
        if ls is not None:
            print(
                f"  npm ls --all --json --package-lock-only (whole command): {ls:.3f} s "
                f"-> provscore CLI is {ls / cli:.1f}x faster, in-process {ls / m['best']:.1f}x"
            )
        peer = snyk(Path(scratch), args.repeat)
        if peer is not None:
            print(
                f"  snyk-nodejs-lockfile-parser parseNpmLockV2Project in-process: "
                f"{peer['best']:.3f} s ({peer['count']:.0f} packages in its graph) "
                f"-> provscore in-process is {peer['best'] / m['best']:.1f}x faster"
            )


if __name__ == "__main__":
    main()
