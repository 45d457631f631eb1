"""npm_ex's `npm.lock`: a flat JSON map from package name to its one locked version.

Each entry records `version`, `integrity`, `tarball`, `dependencies`, `optional_dependencies` and
`has_install_script`; there is one entry per name, so the name is also its only install path.
"""

from __future__ import annotations

import json
from pathlib import Path

from scorer.errors import InputError
from scorer.lockfiles.common import (
    Collector,
    classify_url,
    expect_dict,
    format_version,
    is_registry_tarball,
    line_of,
    load_json,
)
from scorer.records import Lockfile, SourceKind

NPM_EX_VERSIONS = frozenset({1})


def read_npm_ex(path: Path, text: str) -> Lockfile:
    data = expect_dict(path, load_json(path, text), "the lockfile")
    version = format_version(
        path,
        text,
        data.get("lockfileVersion"),
        NPM_EX_VERSIONS,
        "npm.lock lockfileVersion",
        '"lockfileVersion"',
    )
    col = Collector(path)
    for name, raw in expect_dict(path, data.get("packages"), "packages").items():
        try:
            entry = expect_dict(path, raw, f"packages entry {name!r}")
            ver = entry.get("version")
            tarball = entry.get("tarball") or None
            source = SourceKind.REGISTRY
            if isinstance(tarball, str):
                source = classify_url(path, name, tarball) or (
                    SourceKind.REGISTRY
                    if is_registry_tarball(tarball, name, str(ver))
                    else SourceKind.TARBALL
                )
            col.add(
                name, ver, source, name, resolved=tarball, integrity=entry.get("integrity") or None
            )
        except InputError as exc:
            raise InputError(path, exc.problem, line_of(text, json.dumps(name) + ":")) from None
    return col.lockfile(f"npm_ex@{version}")
