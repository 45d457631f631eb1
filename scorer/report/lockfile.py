"""The `provscore lock list --format` table: what a lockfile records, as text or JSON."""

from __future__ import annotations

import json
from typing import Any, Protocol, assert_never

from scorer.records import LockedPackage, Lockfile
from scorer.report.formats import ListFormat
from scorer.text import safe


def package_json(pkg: LockedPackage) -> dict[str, Any]:
    """One locked package as the JSON `lock list` prints."""
    return {
        "name": pkg.name,
        "version": pkg.version,
        "alias": pkg.aliases[0] if pkg.aliases else None,
        "aliases": list(pkg.aliases),
        "source": pkg.source.value,
        "resolved": pkg.resolved,
        "integrity": pkg.integrity,
        "dev": pkg.dev,
        "optional": pkg.optional,
        "peer": pkg.peer,
        "paths": list(pkg.paths),
    }


def render_text(lock: Lockfile, *, pretty: bool = True) -> str:
    """A header, then one aligned line per package with its source and flags."""
    rows = []
    for pkg in lock.packages:
        notes = [f"as {', '.join(pkg.aliases)}"] if pkg.aliases else []
        notes += [flag for flag in ("dev", "optional", "peer") if getattr(pkg, flag)]
        rows.append((safe(f"{pkg.name}@{pkg.version}"), pkg.source.value, safe(" ".join(notes))))
    width = max((len(r[0]) for r in rows), default=0)
    lines = [f"{safe(str(lock.path))}: {lock.format}, {len(rows)} packages"]
    lines += [f"  {spec:<{width}}  {source:<9}  {notes}".rstrip() for spec, source, notes in rows]
    return "\n".join(lines) + "\n"


def render_json(lock: Lockfile, *, pretty: bool = True) -> str:
    """The machine-readable list: indented for people, compact (the C encoder) for machines."""
    doc = {
        "lockfile": str(lock.path),
        "format": lock.format,
        "packages": [package_json(p) for p in lock.packages],
    }
    return json.dumps(doc, indent=2 if pretty else None) + "\n"


class ListRenderer(Protocol):
    def __call__(self, lock: Lockfile, *, pretty: bool = True) -> str: ...


def renderer(fmt: ListFormat) -> ListRenderer:
    """The renderer of one format (mypy checks that every member is handled)."""
    match fmt:
        case ListFormat.TEXT:
            return render_text
        case ListFormat.JSON:
            return render_json
        case _:
            assert_never(fmt)


RENDERERS: dict[ListFormat, ListRenderer] = {fmt: renderer(fmt) for fmt in ListFormat}
