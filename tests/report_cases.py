"""Inputs for the behavioural tests of `provscore report`: constructed registry documents, the
insights answers that go with them, a frozen snapshot directory and small hand-written lockfiles.

Every registry document here is derived from the real `has-package-exports` packument (npm/cli
test fixture) by tests/insights_fixtures.py: the `constructed-*` documents change one fact between
1.2.3 and 1.3.0; the ones added here (`constructed-tor`, `constructed-no-2fa`, `constructed-quiet`)
keep the real history unchanged and differ only in what the insights answers say about 1.3.0
(published over Tor, without 2FA, nothing notable). The weights are the shipped weights.toml, so
the expected scores below are the sums of its weights for the flags each case fires.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from insights_fixtures import constructed, escaped, real

ROOT = Path(__file__).resolve().parents[1]
NOW = "2026-11-30T12:00:00Z"
VERSION = "1.3.0"  # the 'after' version of every constructed document
MALICIOUS = ("chalk", "5.6.1")  # MAL-2025-46969 (OpenSSF Malicious Packages, in the shared data)
MALICIOUS_ID = "MAL-2025-46969"

# name -> (tor, tfa) said by the insights endpoint about 1.3.0 (1.2.3 is always a plain publish)
INSIGHTS_130: dict[str, tuple[bool, bool]] = {
    "constructed-tor": (True, True),
    "constructed-no-2fa": (False, False),
    "constructed-tor-no-2fa": (True, False),
}
# Expected weighted scores at 1.3.0 (shipped weights): tor 60, no_2fa 45, a lost safeguard or
# an added install script 40; the account-change flags of a new publisher are weak.
SCORES = {
    "constructed-tor-no-2fa": 100.0,  # 60 + 45, capped at 100
    "constructed-tor": 60.0,
    "constructed-no-2fa": 45.0,
    "constructed-install-script": 40.0,
    "constructed-quiet": 0.0,
}


def _plain(name: str) -> dict[str, Any]:
    doc = copy.deepcopy(real("has-package-exports"))
    doc["name"] = doc["_id"] = name
    doc["_provscore_constructed"] = (
        "constructed from has-package-exports (npm/cli fixture): history unchanged, "
        "renamed; what differs is in the insights answers"
    )
    return doc


def documents() -> dict[str, dict[str, Any]]:
    docs = constructed()
    for name in [*INSIGHTS_130, "constructed-quiet"]:
        docs[name] = _plain(name)
    return docs


def answer(name: str, version: str, endpoint: str = "snapshot") -> dict[str, Any]:
    """The insights answer (snapshot row shape) for one version of a constructed document: the
    same publisher and time as its registry document (the real history's where it has none)."""
    tor, tfa = INSIGHTS_130.get(name, (False, True)) if version == VERSION else (False, True)
    doc = documents()[name]
    published = doc["time"][version]
    user = doc["versions"][version].get("_npmUser") or {"name": "ljharb"}
    return {
        "endpoint": endpoint,
        "found": True,
        "username": user["name"],
        "created": published,
        "tor": tor,
        "tfa": tfa,
        "reasons": [],
    }


def insights_records(names: Iterable[str]) -> list[dict[str, Any]]:
    """The same answers as records for `provscore insights serve --data FILE`."""
    rows = []
    for name in names:
        for version in ("1.2.3", VERSION):
            a = answer(name, version)
            rows.append(
                {
                    "name": name,
                    "version": version,
                    "username": a["username"],
                    "created": a["created"],
                    "tor": a["tor"],
                    "tfa": a["tfa"],
                }
            )
    return rows


def write_snapshot(
    directory: Path,
    docs: Mapping[str, Mapping[str, Any]],
    *,
    insights: bool = True,
    registry: str = "https://registry.example.invalid/",
) -> Path:
    """`directory/packuments/<escaped>.json` = {name, registry, document} and
    `directory/insights/<escaped>.json` = {version: answer} for both versions of each document."""
    (directory / "packuments").mkdir(parents=True, exist_ok=True)
    (directory / "insights").mkdir(parents=True, exist_ok=True)
    for name, doc in docs.items():
        body = {"name": name, "registry": registry, "document": doc}
        (directory / "packuments" / f"{escaped(name)}.json").write_text(json.dumps(body))
        if insights:
            rows = {v: answer(name, v) for v in ("1.2.3", VERSION)}
            (directory / "insights" / f"{escaped(name)}.json").write_text(json.dumps(rows))
    return directory


def write_lock(
    directory: Path,
    pairs: Iterable[tuple[str, str]],
    *,
    resolved: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """A package-lock.json v3. Without `resolved` (a registry base URL) the entries carry no
    resolved URL, as npm writes them with omit-lockfile-registry-resolved: no registry is then
    derivable from the lockfile."""
    packages: dict[str, Any] = {"": {"name": "app", "version": "1.0.0"}}
    for name, version in pairs:
        entry: dict[str, Any] = {"version": version}
        if resolved is not None:
            base = name.rsplit("/", 1)[-1]
            entry["resolved"] = f"{resolved.rstrip('/')}/{name}/-/{base}-{version}.tgz"
        packages[f"node_modules/{name}"] = entry
    packages.update(extra or {})
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "package-lock.json"
    path.write_text(json.dumps({"name": "app", "lockfileVersion": 3, "packages": packages}))
    return path


GIT_DEP = {
    "node_modules/gitdep": {
        "version": "1.0.0",
        "resolved": "git+ssh://git@git.example.invalid/o/gitdep.git#"
        "4dc51c92036756ee7e92e8e8736208c2f5536793",
    }
}
FILE_DEP = {
    "node_modules/localdep": {"version": "0.1.0", "resolved": "file:../localdep"},
}


def provscore(
    *args: str,
    cwd: Path,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`python -m scorer ARGS` as a separate process, importing this worktree's `scorer`, with
    HOME in a temporary directory and no inherited provscore or npm settings."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PROVSCORE_", "NPM_CONFIG_", "npm_config_"))
    }
    full = {
        **base,
        "HOME": str(home or cwd / "home"),
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "scorer", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        check=False,
        env=full,
        timeout=timeout,
    )


def by_name(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The report's packages keyed by `name@version`."""
    return {f"{p['name']}@{p['version']}": p for p in doc["packages"]}
