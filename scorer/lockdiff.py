"""What a lockfile change brings in: the versions that are new or changed against an old lockfile.

`diff_lockfiles(old, new)` is the core of `provscore report --diff OLD_LOCKFILE`, which shows a
pull-request reviewer only what the change installs that was not installed before. Packages are
matched by identity, never by install path or entry key, so the two lockfiles may be of different
formats (a package-lock.json replaced by a pnpm-lock.yaml). The identity of a registry package is
(name, version); a git package is identified by its repository and commit when the lockfile
records them (its `version` is spelled differently by each format, and a moved commit is new code
under the same version); a remote tarball by its version and URL; a file, link or workspace
package by (name, version, kind), because its lockfile entry pins no content and each format
spells its path differently. Pure: no I/O, deterministic order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scorer.osv.versions import parse_version
from scorer.records import LockedPackage, Lockfile, SourceKind

__all__ = ["Change", "LockDiff", "diff_lockfiles"]

ADDED = "added"
CHANGED = "changed"


@dataclass(frozen=True, slots=True)
class Change:
    """A package of the new lockfile that the old one did not have.

    `kind` is "added" when no package of that name was in the old lockfile, "changed" when the
    name was there with other versions. `replaces` are the old versions of the same name and
    source kind that the new lockfile no longer has, in SemVer order (a version still present
    is not replaced, even when this one is new); `replaced` are those old packages themselves,
    for what a version string alone does not tell (the commit of a git dependency).
    """

    package: LockedPackage
    kind: str
    replaces: tuple[str, ...]
    replaced: tuple[LockedPackage, ...] = ()


@dataclass(frozen=True, slots=True)
class LockDiff:
    """The new lockfile against the old: its `changes` in the new lockfile's (name, version)
    order, how many of its packages are `unchanged`, and the old packages that are `removed`
    (gone and not replaced by a change of the same name and source kind)."""

    old: Lockfile
    new: Lockfile
    changes: tuple[Change, ...]
    unchanged: int
    removed: tuple[LockedPackage, ...]


def diff_lockfiles(old: Lockfile, new: Lockfile) -> LockDiff:
    """Compare two parsed lockfiles (any formats) by package identity."""
    old_ids = {_identity(p) for p in old.packages}
    new_ids = {_identity(p) for p in new.packages}
    gone: dict[tuple[str, SourceKind], list[LockedPackage]] = {}
    for pkg in old.packages:
        if _identity(pkg) not in new_ids:
            gone.setdefault((pkg.name, pkg.source), []).append(pkg)
    old_names = {p.name for p in old.packages}
    changes: list[Change] = []
    replaced_ids: set[tuple[Any, ...]] = set()
    unchanged = 0
    for pkg in new.packages:
        if _identity(pkg) in old_ids:
            unchanged += 1
            continue
        olds = tuple(sorted(gone.get((pkg.name, pkg.source), ()), key=_version_order))
        replaced_ids.update(_identity(p) for p in olds)
        changes.append(
            Change(
                package=pkg,
                kind=CHANGED if pkg.name in old_names else ADDED,
                replaces=tuple(p.version for p in olds),
                replaced=olds,
            )
        )
    removed = tuple(
        p for p in old.packages if _identity(p) not in new_ids and _identity(p) not in replaced_ids
    )
    return LockDiff(old=old, new=new, changes=tuple(changes), unchanged=unchanged, removed=removed)


def _identity(pkg: LockedPackage) -> tuple[Any, ...]:
    if pkg.source is SourceKind.GIT and pkg.resolved is not None:
        return (pkg.name, pkg.source, _git_location(pkg.resolved))
    if pkg.source is SourceKind.TARBALL:
        return (pkg.name, pkg.source, pkg.version, pkg.resolved)
    return (pkg.name, pkg.source, pkg.version)


def _git_location(resolved: str) -> str:
    """One spelling for a git URL with its commit across formats: npm and yarn 1 write
    `git://host/repo#<sha>`, bun and pnpm's keys `git+git://...#<sha>`, berry `#commit=<sha>`."""
    url, _, ref = resolved.removeprefix("git+").partition("#")
    return f"{url}#{ref.removeprefix('commit=')}" if ref else url


def _version_order(pkg: LockedPackage) -> tuple[Any, ...]:
    # Non-SemVer versions (specs of local and git packages) sort after SemVer ones, by text.
    key = parse_version(pkg.version)
    return (0, key, pkg.version) if key is not None else (1, (), pkg.version)
