"""Gather the publication evidence a report scores: registry histories and insights answers.

This is the report's only network I/O besides the OSV part. Registry documents become compact
per-package histories (`scorer.features.PackageHistory`); insights answers are asked for every
locked registry version. Whatever cannot be learned is recorded with its reason, per package:
no registry configured, offline and not cached, HTTP 404, an unreachable server. Under `strict`
the caller turns unreachable sources into exit 3 instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scorer.config import Config
from scorer.npmrc import Npmrc, RegistrySelection, load_npmrc, lockfile_origin, select_registry
from scorer.records import LockedPackage, SourceInfo

if TYPE_CHECKING:
    from scorer.features import PackageHistory
    from scorer.insights.client import InsightsAnswer
    from scorer.retry import Deadline

NO_REGISTRY = (
    "no registry configured or derivable from the lockfile "
    "(--registry, NPM_CONFIG_REGISTRY, .npmrc or config registry)"
)
SNAPSHOT_ORIGIN = "the snapshot (offline)"
INSIGHTS_URL_ENV = "PROVSCORE_INSIGHTS_URL"  # scorer.insights.client.URL_ENV, without importing it
NO_INSIGHTS = (
    "no insights endpoint configured (--insights-url, PROVSCORE_INSIGHTS_URL or config "
    "insights_url)"
)


@dataclass(frozen=True, slots=True)
class Evidence:
    histories: Mapping[str, PackageHistory]
    history_missing: Mapping[str, str]  # name -> why there is no history
    answers: Mapping[tuple[str, str], InsightsAnswer]
    insights_missing: str  # why a version has no insights answer
    sources: tuple[SourceInfo, ...]
    unreachable: tuple[str, ...] = field(default=())  # sources that failed, for --strict


def _selection(
    option: str | None,
    config: Config,
    env: Mapping[str, str],
    npmrc: Npmrc,
    packages: Iterable[LockedPackage],
    offline: bool,
    snapshot_dir: Path | None,
) -> RegistrySelection | None:
    """The documented order (option, environment, .npmrc, config, the lockfile's origin); None
    when nothing names a registry, which leaves registry facts unknown rather than failing."""
    named = (
        option or env.get("NPM_CONFIG_REGISTRY") or env.get("npm_config_registry") or npmrc.registry
    )
    configured = config.get_str("registry")
    packages = list(packages)
    if named:
        return select_registry(option, env, npmrc, packages)
    if configured:  # the project's own choice comes before a guess from the lockfile
        return select_registry(configured, {}, npmrc, packages)
    if lockfile_origin(packages) is not None:
        return select_registry(None, {}, npmrc, packages)
    if offline and snapshot_dir is not None:
        # A frozen snapshot records each document's registry: nothing else needs naming one.
        return RegistrySelection(f"(snapshot {snapshot_dir})", SNAPSHOT_ORIGIN, True)
    return None


def gather_evidence(
    keys: Sequence[tuple[str, str]],
    *,
    packages: Sequence[LockedPackage],
    project_dir: Path,
    config: Config,
    env: Mapping[str, str],
    home: Path,
    registry_url: str | None,
    insights_url: str | None,
    offline: bool,
    snapshot_dir: Path | None,
    cache_dir: Path | None,
    strict: bool,
    transport: Any = None,
    lap: Callable[[str], None] = lambda _stage: None,
    progress: Callable[[int, int], None] | None = None,
    deadline: Deadline | None = None,
) -> Evidence:
    """Registry histories and insights answers for `keys`. `lap(stage)` is the benchmark's
    timing hook (`scorer.risk.stopwatch`)."""
    names = sorted({name for name, _ in keys})
    npmrc = load_npmrc(project_dir, env)
    selection = _selection(registry_url, config, env, npmrc, packages, offline, snapshot_dir)
    histories: dict[str, PackageHistory] = {}
    missing: dict[str, str] = {}
    unreachable: list[str] = []
    if selection is None:
        missing = dict.fromkeys(names, NO_REGISTRY)
        registry_source = SourceInfo("registry", None, asked=len(names), note=NO_REGISTRY)
    else:
        from scorer.registry import RegistryClient

        client = RegistryClient(
            selection,
            npmrc=npmrc,
            cache_dir=cache_dir or home / ".provscore" / "cache",
            snapshot_dir=snapshot_dir / "packuments" if snapshot_dir is not None else None,
            offline=offline,
            transport=transport,
            progress=progress,
            deadline=deadline,
        )
        fetched_all = client.fetch_histories_sync(names) if names else {}
        lap("registry")
        for name, fetched in fetched_all.items():
            if fetched.history is None:
                why = fetched.reason or "no registry document"
                missing[name] = why
                if not offline and fetched.via == "none" and "HTTP 404" not in why:
                    unreachable.append(f"registry {fetched.registry}: {why}")
            else:
                histories[name] = fetched.history
        from_snapshot = selection.origin == SNAPSHOT_ORIGIN
        registry_source = SourceInfo(
            "registry",
            str(snapshot_dir) if from_snapshot else selection.url,
            requests=client.stats.requests,
            asked=len(names),
            answered=len(histories),
            failed=len(missing),
            note="; ".join(
                [
                    "offline: from the snapshot"
                    if from_snapshot
                    else ("offline: " if offline else "") + f"from {selection.origin}",
                    *client.warnings,
                ]
            ),
        )

    if strict and unreachable:
        # The run fails anyway: asking insights now would only spend what is left of the
        # deadline and then blame the endpoint that was never given time.
        from scorer.errors import SourceUnreachable

        raise SourceUnreachable("; ".join(_first(unreachable)))
    answers, insights_missing, insights_source = _insights(
        keys, config, env, insights_url, offline, snapshot_dir, strict, deadline
    )
    lap("insights")
    return Evidence(
        histories,
        missing,
        answers,
        insights_missing,
        (registry_source, insights_source),
        _first(unreachable),
    )


def _insights(
    keys: Sequence[tuple[str, str]],
    config: Config,
    env: Mapping[str, str],
    option: str | None,
    offline: bool,
    snapshot_dir: Path | None,
    strict: bool,
    deadline: Deadline | None,
) -> tuple[dict[tuple[str, str], InsightsAnswer], str, SourceInfo]:
    url: str | None = None
    token: str | None = None
    # The client module imports httpx (~0.1 s of a warm report): only when something names an
    # endpoint (resolve_endpoint's own order; with none it answers (None, None)).
    if option or env.get(INSIGHTS_URL_ENV) or config.get_str("insights_url"):
        from scorer.insights.client import resolve_endpoint

        url, token = resolve_endpoint(option, env, config.get_str("insights_url"))
    snapshot = snapshot_dir / "insights" if snapshot_dir is not None else None
    if offline:
        from scorer.gather import read_insights_snapshot

        answers = read_insights_snapshot(snapshot, keys) if snapshot is not None else {}
        why = "offline: insights endpoint not queried" + (
            " and the version is not in the snapshot" if snapshot is not None else ""
        )
        source = SourceInfo(
            "insights",
            str(snapshot) if snapshot is not None else None,
            asked=len(keys),
            answered=sum(1 for a in answers.values() if a.found),
            failed=len(keys) - len(answers),
            note=why,
        )
        return answers, why, source
    if url is None:
        return {}, NO_INSIGHTS, SourceInfo("insights", None, asked=len(keys), note=NO_INSIGHTS)
    from scorer.insights.client import InsightsClient

    client = InsightsClient(url, token=token, strict=strict, deadline=deadline)
    answers = client.fetch_sync(keys) if keys else {}
    if snapshot is not None:
        from scorer.gather import write_insights_snapshot

        write_insights_snapshot(snapshot, answers)
    return (
        answers,
        f"no answer from {url}",
        SourceInfo(
            "insights",
            url,
            requests=client.stats.requests,
            asked=len(keys),
            answered=sum(1 for a in answers.values() if a.found),
            failed=sum(1 for a in answers.values() if a.found is None),
        ),
    )


def _first(problems: list[str], limit: int = 3) -> tuple[str, ...]:
    """A few problems, then how many more: one failing registry must not print 10,000 lines."""
    more = (f"and {len(problems) - limit} more",) if len(problems) > limit else ()
    return (*problems[:limit], *more)
