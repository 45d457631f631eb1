"""Gathering publication context: the registry document and the insights endpoint for each
version, merged into `Publication`s (the only I/O on the way to `scorer.publication`).

The registry is asked first, since it tells which version was published before each one; the
insights endpoint is then asked about both in the same batches. Insights answers can be written
to a deterministic snapshot and read back offline. The insights client (gql) is imported lazily.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scorer.atomic import write_atomic
from scorer.errors import ConfigError, InputError, parser_limit
from scorer.publication import Publication, merge
from scorer.records import LockedPackage
from scorer.registry import FetchResult, document_path
from scorer.report.formats import PublicationFormat
from scorer.report.publication import render
from scorer.signals import RegistrySignals, version_signals

if TYPE_CHECKING:
    from scorer.insights.client import InsightsAnswer, InsightsClient
    from scorer.registry import RegistryClient


def gather(
    keys: Sequence[tuple[str, str]],
    *,
    registry: RegistryClient | None,
    insights: InsightsClient | None,
    snapshot_dir: Path | None = None,
    offline: bool = False,
    insights_missing: str = "no insights endpoint configured",
    registry_missing: str = "no registry configured",
) -> dict[tuple[str, str], Publication]:
    """Fetch both sources for `keys` and merge. Registry first: it tells which version was
    published before each one, and insights is then asked about both, in the same batches.
    Without a registry, its facts are unknown for `registry_missing`."""
    signals: dict[tuple[str, str], RegistrySignals] = {}
    if registry is not None:
        documents = registry.fetch_sync(name for name, _ in keys)
        signals = {(n, v): version_signals(documents[n], v) for n, v in keys}
    else:
        signals = {
            (n, v): version_signals(FetchResult(n, "", None, "none", registry_missing), v)
            for n, v in keys
        }
    wanted = list(
        dict.fromkeys(
            [
                *keys,
                *(
                    (n, s.previous.version)
                    for (n, _), s in signals.items()
                    if s.previous is not None
                ),
            ]
        )
    )
    answers: dict[tuple[str, str], InsightsAnswer] = {}
    insights_dir = snapshot_dir / "insights" if snapshot_dir is not None else None
    if offline:
        if insights_dir is not None:
            answers = read_insights_snapshot(insights_dir, wanted)
        insights_missing = "offline: insights endpoint not queried" + (
            " and not in the snapshot" if insights_dir else ""
        )
    elif insights is not None:
        answers = insights.fetch_sync(wanted)
        if insights_dir is not None:
            write_insights_snapshot(insights_dir, answers)
    out: dict[tuple[str, str], Publication] = {}
    for name, version in keys:
        s = signals.get((name, version))
        prev_key = (name, s.previous.version) if s is not None and s.previous is not None else None
        out[(name, version)] = merge(
            name,
            version,
            answers.get((name, version)),
            s,
            answers.get(prev_key) if prev_key else None,
            insights_missing,
        )
    return out


def write_insights_snapshot(
    directory: Path, answers: Mapping[tuple[str, str], InsightsAnswer]
) -> None:
    """One sorted-key JSON file per package: {version: answer}. Merged with what is there."""
    by_name: dict[str, dict[str, Any]] = {}
    for (name, version), a in answers.items():
        by_name.setdefault(name, {})[version] = {
            "endpoint": a.endpoint,
            "found": a.found,
            "username": a.username,
            "created": a.created,
            "tor": a.tor,
            "tfa": a.tfa,
            "reasons": [list(r) for r in a.reasons],
        }
    for name, versions in by_name.items():
        path = directory / f"{document_path(name)}.json"
        # A damaged file already there is an InputError naming it, never a traceback.
        existing = _snapshot_file(path) or {}
        existing.update(versions)
        write_atomic(path, json.dumps(existing, sort_keys=True, indent=1) + "\n")


def read_insights_snapshot(
    directory: Path, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], InsightsAnswer]:
    """The answers a snapshot holds for `keys`. A package without a file, or a version without
    an entry, is left out (unknown: not in the snapshot); a file that is not what
    `write_insights_snapshot` writes is an InputError naming it, never a guess."""
    from scorer.insights.client import InsightsAnswer

    answers: dict[tuple[str, str], InsightsAnswer] = {}
    files: dict[str, dict[str, Any] | None] = {}
    for name, version in keys:
        path = directory / f"{document_path(name)}.json"
        if name not in files:
            files[name] = _snapshot_file(path)
        row = (files[name] or {}).get(version)
        if row is None:
            continue
        fields = _snapshot_fields(path, version, row)
        answers[(name, version)] = InsightsAnswer(name, version, **fields)
    return answers


_SNAPSHOT_FIELDS: Mapping[str, type] = {
    "endpoint": str,
    "found": bool,
    "username": str,
    "created": str,
    "tor": bool,
    "tfa": bool,
}


def _snapshot_file(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(path, f"cannot read the insights snapshot: {exc.strerror}") from None
    except (ValueError, RecursionError) as exc:
        raise InputError(path, f"insights snapshot is not JSON: {parser_limit(exc)}") from None
    if not isinstance(document, dict):
        raise InputError(path, "insights snapshot is not an object of versions")
    return document


def _snapshot_fields(path: Path, version: str, row: object) -> dict[str, Any]:
    """The InsightsAnswer fields of one entry, each checked against its type."""
    where = f"insights snapshot entry {version[:80]!r}"
    if not isinstance(row, dict):
        raise InputError(path, f"{where} is not an object")
    fields: dict[str, Any] = {}
    for key, kind in _SNAPSHOT_FIELDS.items():
        value = row.get(key)
        if value is not None and not isinstance(value, kind):
            raise InputError(path, f"{where}: {key} is not {kind.__name__} or null")
        fields[key] = value
    reasons = row.get("reasons") or []
    if not isinstance(reasons, list) or not all(
        isinstance(r, list) and len(r) == 2 and all(isinstance(x, str) for x in r) for r in reasons
    ):
        raise InputError(path, f"{where}: reasons are not [field, why] pairs of strings")
    fields["reasons"] = tuple((f, why) for f, why in reasons)
    return fields


def parse_spec(spec: str) -> tuple[str, str]:
    """`name@version` (scoped names too) -> (name, version)."""
    at = spec.rfind("@")
    if at <= 0 or at == len(spec) - 1:
        raise ConfigError(f"expected NAME@VERSION, got {spec!r}")
    return spec[:at], spec[at + 1 :]


def show(
    spec: str,
    *,
    fmt: PublicationFormat | str = PublicationFormat.TEXT,
    registry_url: str | None = None,
    insights_url: str | None = None,
    project_dir: Path | None = None,
    cache_dir: Path | None = None,
    snapshot_dir: Path | None = None,
    offline: bool = False,
    env: Mapping[str, str] | None = None,
    echo: Callable[[str], None] | None = None,
    lockfile: Path | None = None,
    config_insights_url: str | None = None,
    pretty: bool = True,
    config_registry: str | None = None,
) -> str:
    """What `provscore insights show NAME@VERSION` prints. `echo` (e.g. a stderr printer) is
    told which registry and insights endpoint are used. The registry is chosen in the report's
    order: option, environment, .npmrc, config `registry`, the lockfile's origin. When nothing
    names one (and no offline snapshot stands in), registry facts are unknown with that reason:
    never an error."""
    from scorer.evidence import NO_REGISTRY
    from scorer.insights.client import InsightsClient, resolve_endpoint
    from scorer.npmrc import RegistrySelection, load_npmrc, lockfile_origin, select_registry
    from scorer.registry import RegistryClient

    env = os.environ if env is None else env
    key = parse_spec(spec)
    npmrc = load_npmrc(project_dir, env)
    packages: tuple[LockedPackage, ...] = ()
    if lockfile is not None:  # the last resort for the registry: its resolved URLs' origin
        from scorer.lockfiles import read_lockfile

        packages = read_lockfile(lockfile).packages
    named = (
        registry_url
        or env.get("NPM_CONFIG_REGISTRY")
        or env.get("npm_config_registry")
        or npmrc.registry
    )
    selection: RegistrySelection | None = None
    # An invalid URL in any of these stays an error (exit 2).
    if named:
        selection = select_registry(registry_url, env, npmrc, packages)
    elif config_registry:  # the project's own choice comes before a guess from the lockfile
        selection = select_registry(config_registry, {}, npmrc, packages)
    elif lockfile_origin(packages) is not None:
        selection = select_registry(None, {}, npmrc, packages)
    elif offline and snapshot_dir is not None:
        # A frozen snapshot records each document's registry: nothing else needs naming one.
        selection = RegistrySelection(f"(snapshot {snapshot_dir})", "--offline --snapshot", True)
    registry = (
        RegistryClient(
            selection,
            npmrc=npmrc,
            cache_dir=cache_dir,
            snapshot_dir=snapshot_dir / "packuments" if snapshot_dir else None,
            offline=offline,
        )
        if selection is not None
        else None
    )
    url, token = resolve_endpoint(insights_url, env, config_insights_url)
    insights = InsightsClient(url, token=token) if url and not offline else None
    if echo is not None:
        echo(selection.describe() if selection is not None else f"registry: {NO_REGISTRY}")
        echo(f"insights: {url or 'none configured (insights facts are unknown)'}")
    publication = gather(
        [key],
        registry=registry,
        insights=insights,
        snapshot_dir=snapshot_dir,
        offline=offline,
        registry_missing=NO_REGISTRY,
    )[key]
    return render(publication, fmt, pretty=pretty)
