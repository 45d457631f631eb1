"""pnpm-lock.yaml, lockfileVersion 5.x, 6.x and 9.0.

Every version records a `packages` map; its key spells the package differently per version:
`/name/1.0.0_peer@2.0.0` (5.x), `/name@1.0.0(peer@2.0.0)` (6.x), `name@1.0.0` (9.0, whose
peer-resolved variants and dev/optional flags moved to `snapshots`). Non-registry packages carry
`name` and `version` fields and a `resolution` that says what they are. Workspace and `link:`
dependencies appear only in `importers`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scorer.errors import InputError
from scorer.lockfiles.common import (
    Collector,
    classify_url,
    expect_dict,
    is_registry_tarball,
    line_of,
    split_spec,
)
from scorer.lockfiles.yamlish import load_yaml
from scorer.records import Lockfile, SourceKind

_SECTIONS = ("dependencies", "devDependencies", "optionalDependencies")


def read_pnpm(path: Path, text: str) -> Lockfile:
    data = expect_dict(path, load_yaml(path, text), "the lockfile")
    raw_version = data.get("lockfileVersion")
    version = str(raw_version) if isinstance(raw_version, (str, int, float)) else ""
    major = version.split(".", 1)[0]
    if major not in ("5", "6", "9") or not version.replace(".", "").isdigit():
        raise InputError(
            path,
            f"unsupported pnpm lockfileVersion {raw_version!r} (supported: 5.x, 6.x, 9.0)",
            line_of(text, "lockfileVersion"),
        )
    col = Collector(path)
    packages = expect_dict(path, data.get("packages") or {}, "packages")
    snapshots = expect_dict(path, data.get("snapshots") or {}, "snapshots")
    aliases = _aliases(data, packages, snapshots, major)
    dev_only = _dev_only_snapshots(data, snapshots) if major == "9" else None
    by_package: dict[str, list[str]] = {}
    for key in snapshots:
        by_package.setdefault(_strip_peers(str(key)), []).append(str(key))
    for key, raw in packages.items():
        key = str(key)
        try:
            entry = expect_dict(path, raw, f"packages entry {key!r}")
            name, ver = _identify(key, entry, major)
            where = by_package.get(key, [key]) if major == "9" else [key]
            flags = [expect_dict(path, snapshots.get(w) or {}, w) for w in where] or [entry]
            source, resolved = _source(path, key, entry, name, ver)
            for w, snap in zip(where, flags, strict=False):
                meta = snap if major == "9" else entry
                for alias in aliases.get(key, {None}):
                    col.add(
                        name,
                        ver,
                        source,
                        w,
                        alias=alias,
                        resolved=resolved,
                        integrity=_integrity(entry),
                        dev=(w in dev_only)
                        if dev_only is not None
                        else _opt_flag(path, meta, "dev", major),
                        optional=_opt_flag(path, meta, "optional", major),
                    )
        except InputError as exc:
            raise InputError(path, exc.problem, line_of(text, key)) from None
    _add_links(col, data, text)
    return col.lockfile(f"pnpm@{version}")


def _strip_peers(key: str) -> str:
    return key.split("(", 1)[0]


def _identify(key: str, entry: dict[str, Any], major: str) -> tuple[object, object]:
    """(real name, version) of a packages entry; explicit fields win over the key."""
    if "name" in entry:
        # Non-registry entries name themselves; a `file:` directory may record no version,
        # and then its key (the spec) is all the lockfile says.
        return entry["name"], entry.get("version", key)
    body = key[1:] if key.startswith("/") else key
    if major == "5":
        # A key without the leading "/" is absolute: it starts with the registry host the
        # package came from (`registry.example.invalid/foo/1.1.0`), as pnpm's dependency-path
        # reads it.
        parts = body.split("/")
        if not key.startswith("/") and len(parts) > 2:
            parts = parts[1:]
            body = "/".join(parts)
        cut = 2 if body.startswith("@") else 1
        name, ver = "/".join(parts[:cut]), "/".join(parts[cut:]).split("_", 1)[0]
    else:
        name, ver = split_spec(_strip_peers(body))
    return entry.get("name", name), entry.get("version", ver)


def _source(
    path: Path, key: str, entry: dict[str, Any], name: object, version: object
) -> tuple[SourceKind, str | None]:
    res = entry.get("resolution") or {}
    if not isinstance(res, dict):
        raise InputError(path, f"{name}: resolution is not an object")
    kind = res.get("type")
    if kind == "git" or "commit" in res:
        # The commit is what pins a git dependency: without it two commits of one repository
        # would read the same (and a moved commit would be invisible to `--diff`).
        repo, commit = _text(res.get("repo")), _text(res.get("commit"))
        return SourceKind.GIT, f"{repo}#{commit}" if repo and commit else repo
    if kind == "directory":
        return SourceKind.FILE, _text(res.get("directory"))
    if kind in ("variations", "binary"):
        # pnpm 10's `runtime:` dependencies (node, bun, deno): a platform binary downloaded
        # from its vendor, not a registry package.
        return SourceKind.TARBALL, None
    if kind is not None:
        raise InputError(path, f"{key}: unknown resolution type {str(kind)[:40]!r}")
    tarball = res.get("tarball")
    if isinstance(tarball, str):
        found = classify_url(path, key, tarball)
        if found is not None:
            return found, tarball
        if is_registry_tarball(tarball, str(name), str(version)):
            return SourceKind.REGISTRY, tarball
        return SourceKind.TARBALL, tarball
    return SourceKind.REGISTRY, None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _integrity(entry: dict[str, Any]) -> str | None:
    res = entry.get("resolution")
    return _text(res.get("integrity")) if isinstance(res, dict) else None


def _dev_only_snapshots(data: dict[str, Any], snapshots: dict[str, Any]) -> set[str]:
    """pnpm 9 no longer writes `dev`; it follows from the graph it does write. The snapshot keys
    reachable from some importer's devDependencies and from no importer's dependencies or
    optionalDependencies are dev-only (what pnpm 5/6 wrote as `dev: true`)."""

    def key(name: str, value: object) -> str | None:
        ref = value.get("version") if isinstance(value, dict) else value
        if not isinstance(ref, str):
            return None
        # An alias names its package (`real@1.0.0(peer@2.0.0)`); a plain reference is a version
        # (or `file:`/`link:` spec). Keys that name no snapshot (links) end the walk there.
        return ref if ref in snapshots else f"{name}@{ref}"

    def closure(sections: tuple[str, ...]) -> set[str]:
        todo = [
            k
            for project in _importers(data).values()
            if isinstance(project, dict)
            for section in sections
            if isinstance(project.get(section), dict)
            for name, value in project[section].items()
            if (k := key(str(name), value)) is not None
        ]
        seen: set[str] = set()
        while todo:
            current = todo.pop()
            if current in seen or current not in snapshots:
                continue
            seen.add(current)
            node = snapshots[current] if isinstance(snapshots[current], dict) else {}
            for section in ("dependencies", "optionalDependencies"):
                deps = node.get(section)
                if isinstance(deps, dict):
                    todo += [k for n, v in deps.items() if (k := key(str(n), v)) is not None]
        return seen

    return closure(("devDependencies",)) - closure(("dependencies", "optionalDependencies"))


def _opt_flag(path: Path, meta: dict[str, Any], key: str, major: str) -> bool | None:
    """pnpm 5/6 write `dev: true` (dev only), `dev: false` (production only) and leave `dev` out
    for a package both need, so absent is "not dev-only" (checked against the importers' closures
    in tests); `optional` is written only when true. (pnpm 9's dev-only set is derived from its
    graph instead: `_dev_only_snapshots`.)"""
    value = meta.get(key, False)
    if value is not None and not isinstance(value, bool):
        raise InputError(path, f"{key} is {value!r}, expected true or false")
    return value


def _importers(data: dict[str, Any]) -> dict[str, Any]:
    importers = data.get("importers")
    if isinstance(importers, dict):
        return importers
    # A lockfile of a single project keeps the root importer's fields at the top level.
    return {".": {s: data.get(s) or {} for s in _SECTIONS}}


def _aliases(
    data: dict[str, Any], packages: dict[str, Any], snapshots: dict[str, Any], major: str
) -> dict[str, set[str | None]]:
    """packages key -> the names it is installed under, for keys installed under an alias.

    A dependency reference is a bare version (`1.0.0(peer@2.0.0)`, `1.0.0_peer@2.0.0`) unless
    the dependency is an alias or (5.x) came from another registry: then it names the package
    (`/real/1.0.0`, `host/real/1.0.0`, `/real@1.0.0`, `real@1.0.0`).
    """
    found: dict[str, set[str | None]] = {}
    holders = list(_importers(data).values())
    holders += list(snapshots.values()) if major == "9" else list(packages.values())
    for holder in holders:
        if not isinstance(holder, dict):
            continue
        for section in _SECTIONS:
            deps = holder.get(section)
            for install, value in deps.items() if isinstance(deps, dict) else ():
                ref = value.get("version") if isinstance(value, dict) else value
                if not isinstance(ref, str) or ":" in ref:
                    continue
                key = _strip_peers(ref) if major == "9" else ref
                # 6.x: a path starts with "/"; 5.x: a path (`/real/1.0.0`, `host/real/1.0.0`)
                # has a slash, a version (even with a scoped peer, `1.0.0_@s+p@2.0.0`) has none.
                if (
                    (major == "9" and "@" not in ref[1:])
                    or (major == "6" and ref[:1] != "/")
                    or (major == "5" and "/" not in ref)
                ):
                    continue
                entry = packages.get(key)
                if isinstance(entry, dict) and _identify(key, entry, major)[0] != install:
                    found.setdefault(key, set()).add(str(install))
    return found


def _add_links(col: Collector, data: dict[str, Any], text: str) -> None:
    """Workspace and `link:` dependencies are recorded only by the importers that use them."""
    importers = _importers(data)
    for importer, raw in importers.items():
        project = raw if isinstance(raw, dict) else {}
        for section in _SECTIONS:
            deps = project.get(section) or {}
            if not isinstance(deps, dict):
                raise InputError(col.path, f"importers[{importer!r}].{section} is not a map")
            for install, value in deps.items():
                ref = value.get("version") if isinstance(value, dict) else value
                if not isinstance(ref, str) or not ref.startswith("link:"):
                    continue
                target = _join(str(importer), ref[len("link:") :])
                kind = SourceKind.WORKSPACE if target in importers else SourceKind.LINK
                try:
                    col.add(
                        install,
                        ref,
                        kind,
                        f"{importer}>{install}",
                        dev=section == "devDependencies",
                    )
                except InputError as exc:
                    raise InputError(col.path, exc.problem, line_of(text, ref)) from None


def _join(base: str, rel: str) -> str:
    parts = [] if base in (".", "") else base.split("/")
    for piece in rel.split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece not in (".", ""):
            parts.append(piece)
    return "/".join(parts) or "."
