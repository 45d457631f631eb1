"""Shared helpers for the scorer.osv tests: the real OSV records of the shared data (OpenSSF
Malicious Packages and GitHub Advisory Database, found by tests/shared_data.py; tests that call
these skip where it is absent), record builders and npm's semver as an oracle. Plain functions
and classes: fixtures live in tests/conftest.py and the test modules."""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import shared_data

from scorer.records import LockedPackage, SourceKind

# Known-bad versions of real incidents and the clean releases just before them.
KNOWN_BAD = {
    ("chalk", "5.6.1"): "MAL-2025-46969",
    ("debug", "4.4.2"): "MAL-2025-46974",
    ("@ctrl/tinycolor", "4.1.1"): "MAL-2025-47141",
    ("ua-parser-js", "0.7.29"): "GHSA-pjwm-rvh2-c87w",
    ("coa", "2.0.3"): "GHSA-73qr-pfmq-6rp8",
    ("rc", "1.2.9"): "GHSA-g2q5-5433-rhrf",
    ("flatmap-stream", "0.1.1"): "GHSA-9x64-5r7x-2q53",
}
KNOWN_CLEAN = [("chalk", "5.6.0"), ("debug", "4.4.1"), ("ua-parser-js", "0.7.28")]


def mal_dir() -> Path:
    """OpenSSF Malicious Packages records (81: malicious and withdrawn), repository paths kept."""
    return shared_data.require(shared_data.MAL_NPM)


def ghsa_dir() -> Path:
    """GitHub Advisory Database malware records (20), repository paths kept."""
    return shared_data.require(shared_data.GHSA_NPM)


@functools.cache
def database_tree() -> Path:
    """Both real databases in one directory tree, as `--db DIR` reads them (the shared directory
    itself also holds registry documents, which are not OSV records): a copy made once per
    process in a temporary directory that is removed at exit."""
    mal, ghsa = mal_dir(), ghsa_dir()
    root = Path(tempfile.mkdtemp(prefix="provscore-osv-"))
    atexit.register(shutil.rmtree, root, True)
    shutil.copytree(mal, root / shared_data.MAL_NPM)
    shutil.copytree(ghsa, root / shared_data.GHSA_NPM)
    return root


def real_record_files() -> list[Path]:
    return sorted(p for d in (mal_dir(), ghsa_dir()) for p in d.rglob("*.json"))


def real_records() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in real_record_files()]


def pkg(name: str, version: str, source: SourceKind = SourceKind.REGISTRY) -> LockedPackage:
    return LockedPackage(name=name, version=version, source=source)


def record(
    ident: str,
    name: str = "pkg",
    *,
    versions: list[str] | None = None,
    events: list[dict[str, str]] | None = None,
    range_type: str = "SEMVER",
    modified: str = "2025-01-01T00:00:00Z",
    **extra: Any,
) -> dict[str, Any]:
    """A small OSV record for one npm package (MAL- ids are malicious by rule)."""
    affected: dict[str, Any] = {"package": {"ecosystem": "npm", "name": name}}
    if versions is not None:
        affected["versions"] = versions
    if events is not None:
        affected["ranges"] = [{"type": range_type, "events": events}]
    return {"id": ident, "modified": modified, "affected": [affected], **extra}


# npm's own `semver` package (bundled with npm) as the independent oracle for version tests:
# one long-lived node process answering JSON lines, so hypothesis can ask thousands of
# questions cheaply and offline.
_NODE_ORACLE = r"""
const semver = require(process.argv[1]);
const lines = require("readline").createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const [op, a, b] = JSON.parse(line);
  const out = op === "compare" ? semver.compare(a, b)
    : semver.satisfies(a, b, { includePrerelease: true });
  process.stdout.write(JSON.stringify(out) + "\n");
});
"""


class NodeSemver:
    """npm's semver package in a node subprocess: `compare(a, b)`, `satisfies(v, range)`."""

    def __init__(self, module: Path) -> None:
        self._proc = subprocess.Popen(
            ["node", "-e", _NODE_ORACLE, str(module)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def _ask(self, *question: str) -> Any:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(question) + "\n")
        self._proc.stdin.flush()
        return json.loads(self._proc.stdout.readline())

    def compare(self, a: str, b: str) -> int:
        return int(self._ask("compare", a, b))

    def satisfies(self, version: str, expression: str) -> bool:
        return bool(self._ask("satisfies", version, expression))

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=10)


def npm_semver_module() -> Path | None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        return None
    root = subprocess.run(["npm", "root", "-g"], capture_output=True, text=True, check=False)
    module = Path(root.stdout.strip()) / "npm" / "node_modules" / "semver"
    return module if (module / "package.json").is_file() else None
