"""Benchmark: `provscore verify` on a 10,000-package lockfile from a warm cache, time per check.

The lockfile is bench/biglock.py's (real names, versions and integrities); the registry
documents are bench_report.py's (real documents, renamed or extended where needed). Every locked
version is re-signed with a throwaway ECDSA P-256 key made here (the real signatures are over
npm's key, which this local registry cannot serve as its own), and every 20th carries a
constructed provenance attestation (a self-signed certificate: consistent, not verified). All
of that is marked `_provscore_constructed`. A local registry on 127.0.0.1 serves documents,
keys and attestations to one cold run, which fills the cache; then the real command runs in a
fresh interpreter with `--offline` (cache only, no request) and, separately, online (every
document revalidated: a 304 each). Each prints its own split under PROVSCORE_TIMINGS=1.
Run: python bench/bench_verify.py [--packages N] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "tests")]

import biglock  # noqa: E402
from bench_report import documents, locked  # noqa: E402

CHECKS = ("integrity", "signature", "provenance", "origin")


def prepare(n: int, work: Path, url: str) -> tuple[Path, dict[str, Any]]:
    """The lockfile pointed at `url`, and the signed documents, keys and attestations."""
    from verify_fixtures import SigningKey, attestation, keys_body, statement, tarball_url

    key = SigningKey.new("SHA256:bench-constructed")
    _, lock = biglock.build(n)
    docs = documents(n)
    served: dict[str, Any] = {"-/npm/v1/keys": keys_body(key)}
    wanted = locked(lock)
    count = 0
    for name, versions in sorted(wanted.items()):
        doc = docs[name]
        doc["_provscore_constructed"] = "bench: re-signed with a throwaway key"
        for version in versions:
            dist = doc["versions"][version]["dist"]
            dist.pop("attestations", None)
            integrity = dist.get("integrity")
            if integrity:
                message = f"{name}@{version}:{integrity}".encode()
                dist["signatures"] = [{"keyid": key.keyid, "sig": key.sign(message)}]
            count += 1
            if count % 20 == 0 and integrity:
                dist["attestations"] = {"url": "constructed", "provenance": {}}
                body = statement(name, version, b"", "bench/constructed")
                body["subject"][0]["digest"]["sha512"] = _hex(integrity)
                served[f"-/npm/v1/attestations/{name}@{version}"] = {
                    "attestations": [attestation(body)]
                }
        served[name] = doc
    for key_path, entry in lock["packages"].items():
        if key_path:
            name = key_path.rsplit("node_modules/", 1)[-1]
            entry["resolved"] = tarball_url(url, name, entry["version"])
    path = work / "package-lock.json"
    path.write_text(json.dumps(lock))
    return path, served


def _hex(integrity: str) -> str:
    import base64

    return base64.b64decode(integrity.split("-", 1)[1]).hex()


def run(lockfile: Path, url: str, cache: Path, *extra: str) -> tuple[float, dict[str, float]]:
    env = {**os.environ, "PROVSCORE_TIMINGS": "1", "PYTHONPATH": str(ROOT), "HOME": str(cache)}
    command = [sys.executable, "-m", "scorer", "verify", str(lockfile), "--registry", url]
    command += ["--cache-dir", str(cache / "registry"), "--format", "json", *extra]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"verify failed ({done.returncode}): {done.stderr[-2000:]}")
    line = next(x for x in done.stderr.splitlines() if x.startswith("provscore timings: "))
    timings: dict[str, float] = json.loads(line.removeprefix("provscore timings: "))
    counts = json.loads(done.stdout)["counts"]
    timings["_checked"] = counts["checked"]
    timings["_verified_signatures"] = counts["checks"]["signature"]["verified"]
    return wall, timings


def show(label: str, wall: float, timings: dict[str, float]) -> None:
    checked = int(timings["_checked"])
    print(
        f"{label}: {wall:.2f} s wall for {checked} versions "
        f"({timings['_verified_signatures']:.0f} signatures verified)"
    )
    stages = ("read", "fetch documents", "fetch keys", "fetch attestations", "name collisions")
    for stage in (*stages, "sigstore setup", "per-version setup", "provenance change", "policy"):
        print(f"  {stage:22} {timings.get(stage, 0.0):7.3f} s")
    for check in CHECKS:
        seconds = timings.get(f"check {check}", 0.0)
        print(
            f"  check {check:16} {seconds:7.3f} s  ({seconds / max(checked, 1) * 1e6:6.1f} us"
            " per version)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from insights_fixtures import registry_server

    with tempfile.TemporaryDirectory() as tmp, registry_server({}) as server:
        work = Path(tmp)
        lockfile, served = prepare(args.packages, work, server.url)
        server.documents.update(served)
        cold, cold_t = run(lockfile, server.url, work)
        show("cold (fills the cache)", cold, cold_t)
        best: tuple[float, dict[str, float]] | None = None
        for _ in range(args.runs):
            server.requests.clear()
            result = run(lockfile, server.url, work, "--offline")
            if server.requests:
                raise SystemExit(f"--offline made {len(server.requests)} requests")
            best = result if best is None or result[0] < best[0] else best
        assert best is not None
        show(f"warm --offline (best of {args.runs}, no request)", *best)
        server.requests.clear()
        online = run(lockfile, server.url, work)
        show(f"warm online ({len(server.requests)} conditional requests)", *online)


if __name__ == "__main__":
    main()
