"""The `provscore` command line (typer).

This is the only place where exceptions become exit codes: a `ProvscoreError` prints one line
on stderr and exits with the code its class carries (2 bad input or configuration, 3 a required
source unreachable); usage errors exit 2 as click decides.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from scorer import __version__
from scorer.errors import InputError, ProvscoreError
from scorer.records import LockedPackage, Lockfile
from scorer.text import safe

app = typer.Typer(
    name="provscore",
    help="Find the locked npm package versions that are malicious or were published riskily.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
lock_app = typer.Typer(
    help="Read lockfiles: list what a lockfile records as installed.", no_args_is_help=True
)
app.add_typer(lock_app, name="lock")


class ListFormat(StrEnum):
    text = "text"
    json = "json"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"provscore {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the provscore version and exit.",
        ),
    ] = False,
) -> None:
    """Find the locked npm package versions that are malicious or were published riskily."""


def _resolve_lockfile(given: Path | None) -> Path:
    """The lockfile given, or the one found in the current directory (said on stderr)."""
    from scorer.lockfiles import find_lockfiles

    if given is not None:
        return given
    found = find_lockfiles(Path.cwd())
    if not found:
        raise InputError(Path.cwd(), "no lockfile here; give one as an argument")
    others = f" (also present: {', '.join(p.name for p in found[1:])})" if found[1:] else ""
    typer.echo(f"provscore: using {found[0].name}{others}", err=True)
    return found[0]


def package_json(pkg: LockedPackage) -> dict[str, Any]:
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


def _list_text(lock: Lockfile) -> str:
    rows = []
    for pkg in lock.packages:
        notes = [f"as {', '.join(pkg.aliases)}"] if pkg.aliases else []
        notes += [flag for flag in ("dev", "optional", "peer") if getattr(pkg, flag)]
        rows.append((safe(f"{pkg.name}@{pkg.version}"), pkg.source.value, safe(" ".join(notes))))
    width = max((len(r[0]) for r in rows), default=0)
    lines = [f"{safe(str(lock.path))}: {lock.format}, {len(rows)} packages"]
    lines += [f"  {spec:<{width}}  {source:<9}  {notes}".rstrip() for spec, source, notes in rows]
    return "\n".join(lines)


@lock_app.command("list")
def lock_list(
    lockfile: Annotated[
        Path | None,
        typer.Argument(
            help="The lockfile to read (default: the lockfile in the current directory).",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        ListFormat,
        typer.Option(
            "--format", help="text: one line per package; json: the machine-readable list."
        ),
    ] = ListFormat.text,
) -> None:
    """List every package version the lockfile records as installed, sorted by name and version."""
    from scorer.lockfiles import read_lockfile

    lock = read_lockfile(_resolve_lockfile(lockfile))
    if fmt is ListFormat.json:
        doc = {
            "lockfile": str(lock.path),
            "format": lock.format,
            "packages": [package_json(p) for p in lock.packages],
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        typer.echo(_list_text(lock))


def main() -> None:
    try:
        result = app(standalone_mode=False)
    except ProvscoreError as exc:
        typer.echo(f"provscore: error: {safe(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        typer.echo("provscore: interrupted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(result if isinstance(result, int) else 0)
