"""Assemble a large, internally consistent package-lock.json (v3) from real pieces.

Names, versions, integrity hashes and tarball paths come from real registry documents
(../shared/data/packuments/npm-cli-registry-mocks, npm CLI test fixtures) and from the real
1,500-package lockfile in tests/fixtures/lockfiles/npm3-large. The first version of each name is
installed at the top level; further versions are nested under other top-level packages, the way
npm nests conflicting versions, and each holder lists what it holds in its `dependencies`, so a
graph-building parser sees a consistent tree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import shared_data  # noqa: E402

LARGE = ROOT / "tests" / "fixtures" / "lockfiles" / "npm3-large" / "package-lock.json"


def packuments() -> Path:
    """The npm CLI registry mocks in the shared data (exits with a message where absent)."""
    return shared_data.for_script(shared_data.REGISTRY_MOCKS)


def real_versions() -> list[tuple[str, str, dict[str, str]]]:
    """(name, version, {resolved, integrity}) from the packuments, then the large lockfile."""
    out: list[tuple[str, str, dict[str, str]]] = []
    seen: set[tuple[str, str]] = set()
    for doc_path in sorted(packuments().rglob("*.json")):
        if doc_path.name.endswith(".min.json"):
            continue
        doc = json.loads(doc_path.read_text())
        for version, meta in sorted(doc.get("versions", {}).items()):
            dist = meta.get("dist", {})
            if (doc["name"], version) in seen or "tarball" not in dist:
                continue
            seen.add((doc["name"], version))
            fields = {"resolved": dist["tarball"]}
            if dist.get("integrity"):
                fields["integrity"] = dist["integrity"]
            out.append((doc["name"], version, fields))
    if LARGE.is_file():
        for key, entry in json.loads(LARGE.read_text())["packages"].items():
            name = key.rsplit("node_modules/", 1)[-1]
            if key and "version" in entry and (name, entry["version"]) not in seen:
                seen.add((name, entry["version"]))
                out.append(
                    (
                        name,
                        entry["version"],
                        {k: entry[k] for k in ("resolved", "integrity") if k in entry},
                    )
                )
    return out


def build(n: int = 10_000) -> tuple[dict[str, object], dict[str, object]]:
    """(package.json, package-lock.json) with `n` installed entries."""
    pieces = real_versions()[:n]
    if len(pieces) < n:
        raise SystemExit(f"only {len(pieces)} real versions available, {n} asked for")
    top: dict[str, tuple[str, dict[str, str]]] = {}
    nested: list[tuple[str, str, dict[str, str]]] = []
    for name, version, dist in pieces:
        if name in top:
            nested.append((name, version, dist))
        else:
            top[name] = (version, dist)
    packages: dict[str, dict[str, object]] = {}
    root_deps = {name: version for name, (version, _) in sorted(top.items())}
    packages[""] = {"name": "bench-big", "version": "1.0.0", "dependencies": root_deps}
    for name, (version, dist) in sorted(top.items()):
        packages[f"node_modules/{name}"] = {"version": version, **dist}
    holders = sorted(top)
    held: dict[str, set[str]] = {}
    cursor = 0
    for name, version, dist in nested:
        while True:
            holder = holders[cursor % len(holders)]
            cursor += 1
            if holder != name and name not in held.setdefault(holder, set()):
                break
        held[holder].add(name)
        entry = packages[f"node_modules/{holder}"]
        deps = entry.setdefault("dependencies", {})
        assert isinstance(deps, dict)
        deps[name] = version
        packages[f"node_modules/{holder}/node_modules/{name}"] = {"version": version, **dist}
    manifest = {"name": "bench-big", "version": "1.0.0", "dependencies": root_deps}
    lock = {
        "name": "bench-big",
        "version": "1.0.0",
        "lockfileVersion": 3,
        "requires": True,
        "packages": packages,
    }
    return manifest, lock


def write(directory: Path, n: int = 10_000) -> Path:
    manifest, lock = build(n)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    path = directory / "package-lock.json"
    path.write_text(json.dumps(lock, indent=2) + "\n")
    return path
