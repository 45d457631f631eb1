"""Small frozen dataclasses shared by every stage of the pipeline.

read lockfile -> fetch -> features -> score -> policy -> render: each arrow passes these.
Unknown facts are `None` (with a reason where one is known), never a silent `False` or `0`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class SourceKind(StrEnum):
    """Where a locked package comes from. Only `registry` packages can be matched to advisories."""

    REGISTRY = "registry"
    GIT = "git"
    TARBALL = "tarball"  # a remote tarball URL that is not a registry download
    FILE = "file"  # a local directory or tarball (`file:`)
    LINK = "link"  # a symlink to a directory (`link:`, npm `link: true`, berry `portal:`)
    WORKSPACE = "workspace"  # a package of the same project


@dataclass(frozen=True, slots=True)
class LockedPackage:
    """One package version that a lockfile records as installed.

    `paths` are the places in the lockfile that record it: `node_modules/...` install paths for
    npm and bun, entry keys for yarn, pnpm and npm_ex. `aliases` are the names it is installed
    under when that differs from its real name (`npm:` aliases). `dev` / `optional` / `peer` are
    `None` when the format does not record them.
    """

    name: str
    version: str
    source: SourceKind
    aliases: tuple[str, ...] = ()
    resolved: str | None = None
    integrity: str | None = None
    dev: bool | None = None
    optional: bool | None = None
    peer: bool | None = None
    paths: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.version)

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True, slots=True)
class Lockfile:
    """A parsed lockfile: its path, its format tag (e.g. `package-lock@3`) and its packages,
    de-duplicated by (name, version, source) and sorted by (name, version)."""

    path: Path
    format: str
    packages: tuple[LockedPackage, ...]
