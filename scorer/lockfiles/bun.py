"""bun.lock, bun's text lockfile (JSON with trailing commas), lockfileVersion 0 and 1.

`packages` maps an install path (`a`, `a/b` for `node_modules/a/node_modules/b`, scoped names
taking two segments) to an array whose first element is the resolved `name@reference`.
bun.lockb, the older binary format, is not read: bun itself can rewrite it as text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from scorer.errors import InputError
from scorer.lockfiles.common import (
    Collector,
    classify_url,
    expect_dict,
    format_version,
    is_registry_tarball,
    is_semver,
    line_of,
    load_json,
    split_spec,
)
from scorer.records import Lockfile, SourceKind

# A JSON string (kept as is) or a comma that only whitespace separates from a closing bracket.
_TRAILING = re.compile(r'("(?:[^"\\]|\\.)*")|,(\s*[}\]])')
# A JSON string (kept as is) or a JSONC comment, which bun's parser accepts in bun.lock.
_COMMENT = re.compile(r'("(?:[^"\\]|\\.)*")|//[^\n]*|/\*[\s\S]*?\*/')
# Where a comment could start (not the `//` of a URL): only then is the slower pass needed.
_COMMENT_HINT = re.compile(r"(?:^|[\s,\[{])(?://|/\*)")
# 0 and 1 from bun 1.1/1.2; 2 from bun 1.3 (adds configVersion; entries keep their shape).
BUN_VERSIONS = frozenset({0, 1, 2})


def strip_trailing_commas(text: str) -> str:
    """bun.lock's JSONC as plain JSON: comments and trailing commas removed, strings untouched,
    and a comment's line breaks kept so that errors still name the right line."""
    if _COMMENT_HINT.search(text):
        text = _COMMENT.sub(lambda m: m.group(1) or "\n" * m.group(0).count("\n"), text)
    return _TRAILING.sub(lambda m: m.group(1) or m.group(2), text)


def read_bun(path: Path, text: str) -> Lockfile:
    data = expect_dict(path, load_json(path, strip_trailing_commas(text)), "the lockfile")
    version = format_version(
        path,
        text,
        data.get("lockfileVersion"),
        BUN_VERSIONS,
        "bun lockfileVersion",
        '"lockfileVersion"',
    )
    workspaces = expect_dict(path, data.get("workspaces", {}), "workspaces")
    packages = expect_dict(path, data.get("packages", {}), "packages")
    col = Collector(path)
    dev = dev_only_keys(workspaces, packages)
    for key, raw in packages.items():
        try:
            _add(col, key, raw, workspaces, key in dev)
        except InputError as exc:
            raise InputError(path, exc.problem, line_of(text, f'"{key}":')) from None
    return col.lockfile(f"bun@{version}")


def _install_path(key: str) -> tuple[str, str]:
    """(node_modules path, install name) of a bun packages key."""
    segments, names = key.split("/"), []
    while segments:
        head = segments.pop(0)
        if head.startswith("@") and segments:
            head = f"{head}/{segments.pop(0)}"
        names.append(head)
    return "node_modules/" + "/node_modules/".join(names), names[-1]


def resolve(packages: dict[str, Any], holder: str, dep: str) -> str | None:
    """The packages key a dependency named `dep` of the package at `holder` resolves to: Node's
    lookup over bun's keys, nearest enclosing path first ("" is the project root)."""
    parts = holder.split("/") if holder else []
    for cut in range(len(parts), -1, -1):
        key = "/".join([*parts[:cut], dep])
        if key in packages:
            return key
    return None


def entry_meta(entry: object) -> dict[str, Any]:
    """The metadata object of a packages entry (its dependencies, os, cpu, ...), or {}."""
    if not isinstance(entry, list):
        return {}
    return next((e for e in entry[1:3] if isinstance(e, dict)), {})


_WALKED = ("dependencies", "optionalDependencies", "peerDependencies")


def dev_only_keys(workspaces: dict[str, Any], packages: dict[str, Any]) -> set[str]:
    """bun.lock records no dev flag, but it records the workspaces' dependency sections and every
    package's dependencies: the keys some devDependencies reach and no other section does are
    dev-only. A workspace's own dependencies nest under its package name."""

    def closure(sections: tuple[str, ...]) -> set[str]:
        todo: list[str] = []
        for where, space in workspaces.items():
            if not isinstance(space, dict):
                continue
            holder = "" if where == "" else str(space.get("name", ""))
            for section in sections:
                deps = space.get(section)
                if isinstance(deps, dict):
                    todo += [k for d in deps if (k := resolve(packages, holder, str(d)))]
        seen: set[str] = set()
        while todo:
            key = todo.pop()
            if key in seen:
                continue
            seen.add(key)
            meta = entry_meta(packages[key])
            # An optional peer is satisfied only if something else installs it: not an edge.
            optional_peers = meta.get("optionalPeers")
            skip = set(optional_peers) if isinstance(optional_peers, list) else set()
            for section in _WALKED:
                deps = meta.get(section)
                if isinstance(deps, dict):
                    todo += [
                        k
                        for d in deps
                        if not (section == "peerDependencies" and d in skip)
                        and (k := resolve(packages, key, str(d)))
                    ]
        return seen

    return closure(("devDependencies",)) - closure(_WALKED)


def _add(col: Collector, key: str, raw: object, workspaces: dict[str, Any], dev: bool) -> None:
    if not isinstance(raw, list) or not raw or not isinstance(raw[0], str):
        raise InputError(col.path, f'packages entry {key!r} is not ["name@reference", ...]')
    where, install = _install_path(key)
    name, ref = split_spec(raw[0])
    resolved: str | None = None
    integrity = raw[3] if len(raw) > 3 and isinstance(raw[3], str) else None
    if ref.startswith("npm:"):  # an alias recorded with its protocol
        ref = ref[4:]
    if ref == "root:":
        return  # the project itself (bun records it when something depends on the root)
    if is_semver(ref):
        source, version = SourceKind.REGISTRY, ref
        registry = raw[1] if len(raw) > 1 and isinstance(raw[1], str) else ""
        if registry and not is_registry_tarball(registry, name, ref):
            resolved = registry
    elif ref.startswith("workspace:"):
        source, version = SourceKind.WORKSPACE, ref
        space = workspaces.get(ref[len("workspace:") :])
        if isinstance(space, dict) and isinstance(space.get("version"), str):
            version = space["version"]
    else:
        kind = classify_url(col.path, key, ref)
        source, version, resolved = kind or SourceKind.TARBALL, ref, ref
        integrity = None
    col.add(
        name,
        version,
        source,
        where,
        alias=install,
        resolved=resolved,
        integrity=integrity,
        dev=dev,
    )
