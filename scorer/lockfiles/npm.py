"""package-lock.json and npm-shrinkwrap.json, lockfileVersion 1, 2 and 3.

v1 records a nested `dependencies` tree; v2 records both that tree and the flat `packages` map
(we read the map, which is authoritative); v3 records only the map. Like npm, a v2/v3 file that
has only the tree is read from the tree. Map keys are install paths
(`node_modules/a/node_modules/b`); `link: true` entries point at a directory entry elsewhere in the
map (a workspace or a `file:` directory), which is the package itself. An entry npm recorded
without a version (a git dependency, sometimes) is read as a non-registry package named by its
`resolved` spec, with a warning on the Lockfile.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

from scorer.errors import InputError
from scorer.lockfiles.common import (
    Collector,
    classify_url,
    expect_dict,
    flag,
    format_version,
    is_registry_tarball,
    is_semver,
    line_of,
    load_json,
    split_spec,
)
from scorer.records import Lockfile, SourceKind

_NM = "node_modules/"
_FLAGS = frozenset({"dev", "optional", "devOptional", "peer"})


def read_package_lock(path: Path, text: str) -> Lockfile:
    data = expect_dict(path, load_json(path, text), "the lockfile")
    version = format_version(
        path,
        text,
        data.get("lockfileVersion"),
        frozenset({1, 2, 3}),
        "lockfileVersion",
        '"lockfileVersion"',
    )
    kind = "npm-shrinkwrap" if path.name == "npm-shrinkwrap.json" else "package-lock"
    col = Collector(path)
    if version == 1:
        _read_tree(col, text, expect_dict(path, data.get("dependencies", {}), "dependencies"))
    elif "packages" in data:
        _read_map(col, text, expect_dict(path, data["packages"], "packages"))
    elif "dependencies" in data:
        # npm itself falls back to the legacy tree when the map is missing.
        _read_tree(col, text, expect_dict(path, data["dependencies"], "dependencies"))
    else:
        # npm 7+ always writes the map (with at least the root entry): a file with neither
        # records nothing, and reading it as "no dependencies" would pass any audit.
        raise InputError(
            path, f"lockfileVersion {version} with neither a packages map nor a dependencies tree"
        )
    return col.lockfile(f"{kind}@{version}")


def _source(
    col: Collector, where: str, resolved: str | None, name: str, version: str
) -> SourceKind:
    if resolved is None:
        # npm omits `resolved` for registry packages when configured to, and for bundled ones.
        return SourceKind.REGISTRY
    kind = classify_url(col.path, where, resolved)
    if kind is not None:
        return kind
    return (
        SourceKind.REGISTRY if is_registry_tarball(resolved, name, version) else SourceKind.TARBALL
    )


def _read_tree(col: Collector, text: str, deps: dict[str, Any]) -> None:
    # An explicit stack, not recursion: a hostile file may nest thousands of levels.
    stack: list[tuple[dict[str, Any], str]] = [(deps, "")]
    while stack:
        level, parent = stack.pop()
        for key, raw in level.items():
            where = f"{parent}/{_NM}{key}" if parent else f"{_NM}{key}"
            try:
                entry = expect_dict(col.path, raw, f"dependencies entry {key!r}")
                _add_v1(col, key, entry, where)
                children = entry.get("dependencies")
                if children is not None:
                    stack.append((expect_dict(col.path, children, f"{where} dependencies"), where))
            except InputError as exc:
                raise InputError(
                    col.path, exc.problem, line_of(text, json.dumps(key) + ":")
                ) from None


def _add_v1(col: Collector, key: str, entry: dict[str, Any], where: str) -> None:
    version = entry.get("version")
    resolved = entry.get("resolved")
    name, alias = key, None
    if isinstance(version, str) and version.startswith("npm:"):
        name, version = split_spec(version[4:])
        alias = key
    if isinstance(version, str) and is_semver(version):
        source = _source(col, where, resolved if isinstance(resolved, str) else None, name, version)
    elif isinstance(version, str):
        # v1 records the spec itself as the version of git, file and remote tarball entries.
        source = classify_url(col.path, where, version) or SourceKind.TARBALL
    elif "version" not in entry:
        source, version = _unversioned(col, where, resolved)
    else:
        source = SourceKind.REGISTRY  # let validation report the wrong type
    col.add(
        name,
        version,
        source,
        where,
        alias=alias,
        resolved=resolved,
        integrity=entry.get("integrity"),
        dev=flag(col.path, entry, "dev", where),
        optional=flag(col.path, entry, "optional", where),
        peer=None,
    )


def _read_map(col: Collector, text: str, packages: dict[str, Any]) -> None:
    root = packages.get("", {})
    globs = _workspace_globs(col.path, root)
    links: dict[str, list[str]] = {}
    targets: dict[str, dict[str, Any]] = {}
    for key, raw in packages.items():
        if key == "":
            continue
        try:
            entry = expect_dict(col.path, raw, f"packages entry {key!r}")
            if entry.get("link") is True:
                target = entry.get("resolved")
                if not isinstance(target, str) or not target:
                    raise InputError(col.path, f"{key}: link without a resolved target")
                links.setdefault(target, []).append(key)
            elif _NM not in key:
                targets[key] = entry
            else:
                _add_v2(col, key, key[key.rfind(_NM) + len(_NM) :], entry, key, SourceKind.REGISTRY)
        except InputError as exc:
            raise InputError(col.path, exc.problem, line_of(text, json.dumps(key) + ":")) from None
    for target in sorted(set(targets) | set(links)):
        entry = targets.get(target, {})
        sources = links.get(target, [])
        install = sources[0][sources[0].rfind(_NM) + len(_NM) :] if sources else None
        name = entry.get("name") or install or target.rsplit("/", 1)[-1]
        kind = SourceKind.WORKSPACE if _matches(target, globs) else SourceKind.FILE
        if not entry.get("version"):
            entry = {**entry, "version": f"file:{target}"}
        try:
            for where in sources or [target]:
                _add_v2(col, where, name, entry, target, kind)
        except InputError as exc:
            raise InputError(
                col.path, exc.problem, line_of(text, json.dumps(target) + ":")
            ) from None


def _add_v2(
    col: Collector,
    where: str,
    install_name: str,
    entry: dict[str, Any],
    key: str,
    local_kind: SourceKind,
) -> None:
    name = entry.get("name", install_name)
    version = entry.get("version")
    resolved = entry.get("resolved")
    source: SourceKind
    if local_kind is not SourceKind.REGISTRY:
        source, resolved = local_kind, None
    elif "version" not in entry:
        source, version = _unversioned(col, where, resolved)
    else:
        source = _source(
            col, where, resolved if isinstance(resolved, str) else None, str(name), str(version)
        )
    dev = optional = peer = False
    if _FLAGS.intersection(entry):  # most entries carry none of them
        # `devOptional` (needed unless both dev and optional dependencies are left out) is
        # neither dev-only nor optional-only; npm never writes it together with either.
        flag(col.path, entry, "devOptional", key)
        dev = bool(flag(col.path, entry, "dev", key))
        optional = bool(flag(col.path, entry, "optional", key))
        peer = bool(flag(col.path, entry, "peer", key))
    col.add(
        name,
        version,
        source,
        where,
        alias=install_name if install_name != name and _NM in where else None,
        resolved=resolved,
        integrity=entry.get("integrity"),
        dev=dev,
        optional=optional,
        peer=peer,
    )


def _unversioned(col: Collector, where: str, resolved: object) -> tuple[SourceKind, str]:
    """(source, version) of an entry npm recorded without a version: its `resolved` spec stands
    in for the version, and the package can never be read as a registry one (nothing says
    which registry version it would be). Without `resolved` nothing identifies the package,
    and npm itself cannot install it either."""
    if not isinstance(resolved, str) or not resolved:
        raise InputError(col.path, f"{where}: neither a version nor a resolved URL")
    source = classify_url(col.path, where, resolved) or SourceKind.TARBALL
    col.warn(f"{where}: no version recorded; read as a {source.value} package ({resolved})")
    return source, resolved


def _workspace_globs(path: Path, root: object) -> list[str]:
    if not isinstance(root, dict):
        return []
    spaces = root.get("workspaces", [])
    if isinstance(spaces, dict):  # the {"packages": [...]} form
        spaces = spaces.get("packages", [])
    if not isinstance(spaces, list) or not all(isinstance(s, str) for s in spaces):
        raise InputError(path, "the root package's workspaces are not a list of paths")
    return [s.rstrip("/") for s in spaces]


def _matches(target: str, globs: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(target, g) for g in globs)
