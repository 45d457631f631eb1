"""`provscore audit`: every locked registry version against OSV malicious-package advisories.

read lockfile -> advisories (online API or local database) -> match -> findings -> suppressions
-> policy. The matcher is the same in both modes, so online and offline give the same findings
for the same records. Nothing is written unless every query succeeded. A finding on a package
the lockfile resolves from a private registry is a name collision (`collisions`): the advisory
is about the public package of that name, so it is shown at its own level, with both origins.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scorer.config import Config, find_config, resolve_timeout
from scorer.errors import ConfigError, InputError
from scorer.lockfiles import read_lockfile
from scorer.npmrc import checked_url
from scorer.origin import private_origin, private_registries
from scorer.osv import DEFAULT_OSV_URL
from scorer.osv.advisories import Advisory, group_advisories, incident_ids, match
from scorer.osv.database import merge_database
from scorer.osv.index import open_database
from scorer.policy import COMPROMISED, collision_level, exit_code, finding_level, resolve
from scorer.records import (
    AuditReport,
    Finding,
    LockedPackage,
    SourceInfo,
    SourceKind,
    SuppressedFinding,
)
from scorer.suppressions import split_suppressed

if TYPE_CHECKING:  # scorer.retry imports httpx, which an offline audit never loads
    from scorer.retry import Deadline

DB_ENV = "PROVSCORE_COMPROMISED_DB"
OSV_URL_ENV = "PROVSCORE_OSV_URL"
HOW_TO_CREATE = (
    "create one with `provscore audit --osv --write-cache` (online), or pass --db with an OSV "
    "JSON file, a directory of OSV records or an OSV all.zip"
)


def default_db(env: Mapping[str, str], config: Config, home: Path) -> Path:
    """The shared database: PROVSCORE_COMPROMISED_DB, then config, then ~/.provscore/..."""
    if env.get(DB_ENV):
        try:
            return Path(env[DB_ENV]).expanduser()
        except RuntimeError:  # "~name" of no user here, or "~" with no home directory
            raise ConfigError(
                f"{DB_ENV} {env[DB_ENV][:120]!r} starts with a ~ that names no home directory"
            ) from None
    configured = config.get_path("compromised_db") if config.get_str("compromised_db") else None
    if configured is not None:  # relative to the configuration file's directory
        return configured
    return home / ".provscore" / "security" / "compromised_packages.json"


@dataclass(frozen=True, slots=True)
class AuditOptions:
    lockfile: Path
    online: bool = False
    db: Path | None = None
    write_cache: bool = False
    write: Path | None = None
    policy: str | None = None
    osv_url: str | None = None
    timeout: float | None = None  # seconds for the network work of --osv (None: config/default)


def incidents(
    pkg: LockedPackage, advisories: Sequence[Advisory], source: str, note: str | None = None
) -> list[Finding]:
    """One finding per incident (records linked by aliases) among a package's advisories."""
    return [
        Finding(
            pkg,
            incident_ids(group),
            next((a.summary for a in group if a.summary), None),
            source,
            note,
        )
        for group in group_advisories(advisories)
    ]


def _findings(
    packages: Sequence[LockedPackage], hits: Sequence[tuple[Advisory, ...]], source: str
) -> list[Finding]:
    return [
        f
        for pkg, advisories in zip(packages, hits, strict=True)
        if advisories
        for f in incidents(pkg, advisories, source)
    ]


def _api_only(
    packages: Sequence[LockedPackage],
    hits: Sequence[tuple[Advisory, ...]],
    fetched: Sequence[Advisory],
    ids_by_package: Mapping[tuple[str, str], tuple[str, ...]],
) -> list[Finding]:
    """Malicious records the API reported for a package that local range evaluation does not
    match. Fail closed: they are findings too, marked, rather than dropped."""
    by_id = {a.id: a for a in fetched}
    out = []
    for pkg, matched in zip(packages, hits, strict=True):
        if pkg.source is not SourceKind.REGISTRY:
            continue
        have = {a.id for a in matched}
        extra = [
            by_id[i]
            for i in ids_by_package.get(pkg.key, ())
            if i in by_id and i not in have and by_id[i].malicious and not by_id[i].is_withdrawn
        ]
        out += incidents(
            pkg, extra, "online", "reported by the OSV API; its ranges did not match locally"
        )
    return out


def run_audit(
    options: AuditOptions,
    *,
    env: Mapping[str, str] | None = None,
    today: date | None = None,
    home: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    client_options: Mapping[str, Any] | None = None,
    deadline: Deadline | None = None,
) -> AuditReport:
    """The audit. Online, every OSV request ends by `deadline` (default: `--timeout` seconds
    from now, resolved from the options, environment and config) or the run fails closed."""
    env = os.environ if env is None else env
    today = today or date.today()
    home = home or Path.home()
    lock = read_lockfile(options.lockfile)
    config = find_config(options.lockfile.parent)
    policy = resolve(COMPROMISED, options.policy, env, config)
    cache_path = default_db(env, config, home)
    registry = [p for p in lock.packages if p.source is SourceKind.REGISTRY]

    extra: list[Finding] = []
    if options.online:
        from scorer.osv.client import query_osv  # httpx only when going online

        url = checked_url(
            options.osv_url or env.get(OSV_URL_ENV) or config.get_str("osv_url") or DEFAULT_OSV_URL,
            "OSV API URL",
        )
        from_config = not (options.osv_url or env.get(OSV_URL_ENV)) and config.get_str("osv_url")
        if options.write_cache and from_config:
            # The shared database serves every project of this user; a repository's own
            # config must not choose the server whose records go into it.
            raise ConfigError(
                f"--write-cache merges into your user-wide database, and osv_url comes from"
                f" {config.path}, which a repository can set: confirm the server with"
                f" --osv-url or {OSV_URL_ENV}, or use --write PATH for a project database"
            )
        from scorer.retry import DEFAULT_TIMEOUT, Deadline

        if deadline is None:
            seconds, _ = resolve_timeout(options.timeout, env, config, DEFAULT_TIMEOUT)
            deadline = Deadline.after(seconds)
        result = query_osv(
            registry, url, progress=progress, **{"deadline": deadline, **(client_options or {})}
        )
        advisories: Sequence[Advisory] = result.advisories
        hits = match(lock.packages, advisories)
        extra = _api_only(lock.packages, hits, advisories, result.ids_by_package)
        sources = (SourceInfo("osv-api", url, requests=result.requests, records=len(advisories)),)
        to_write = [a for a in advisories if a.malicious or a.is_withdrawn]
        source = "online"
    else:
        db = options.db or cache_path
        if not db.exists():
            raise InputError(db, f"no advisory database here; {HOW_TO_CREATE}")
        cache_dir = Path(env.get("XDG_CACHE_HOME") or home / ".cache") / "provscore" / "osv-index"
        index = open_database(db, cache_dir=cache_dir)
        hits = match(lock.packages, index)
        sources = (SourceInfo("local-db", str(db), records=index.record_count),)
        to_write = sorted({a.id: a for h in hits for a in h}.values(), key=lambda a: a.id)
        source = "local"

    found = sorted(
        _findings(lock.packages, hits, source) + extra,
        key=lambda f: (f.package.name, f.package.version, f.ids),
    )
    if found:
        found = _mark_collisions(found, options.lockfile.parent, env, config)
    matched, unused, expired = split_suppressed(
        [(f.subject, f.ids) for f in found], config.suppressions, today
    )
    live = [f for f, by in zip(found, matched, strict=True) if by is None]
    active = tuple(f for f in live if f.private_origin is None)
    collisions = tuple(f for f in live if f.private_origin is not None)
    suppressed = tuple(
        SuppressedFinding(f, by) for f, by in zip(found, matched, strict=True) if by is not None
    )

    level = finding_level(policy.policy)
    written = []
    for target, wanted in ((cache_path, options.write_cache), (options.write, True)):
        if wanted and target is not None:
            written.append((target, merge_database(target, to_write)))
    return AuditReport(
        lockfile=lock,
        mode="online" if options.online else "offline",
        sources=sources,
        policy=policy.policy,
        policy_origin=policy.origin,
        level=level,
        findings=active,
        exit_code=exit_code(level for _ in active),
        suppressed=suppressed,
        unused_suppressions=tuple(unused),
        expired_suppressions=tuple(expired),
        not_checked=tuple(p for p in lock.packages if p.source is not SourceKind.REGISTRY),
        written=tuple(written),
        collisions=collisions,
        collision_level=collision_level(policy.policy),
    )


def _mark_collisions(
    found: list[Finding], project: Path, env: Mapping[str, str], config: Config
) -> list[Finding]:
    """Findings on packages the lockfile resolves from a private registry (an .npmrc scope
    registry other than the default, or config `private_registries`) marked as name collisions.
    When the .npmrc cannot be read, only the configured registries count, and each finding says
    that its origin was judged without the .npmrc: it stays a malicious finding (fail closed)."""
    from scorer.npmrc import load_npmrc

    configured = config.get_str_list("private_registries")
    try:
        npmrc = load_npmrc(project, env)
    except ConfigError as exc:
        private = private_registries(None, {}, configured)
        note = f"origin judged without the .npmrc ({exc})"
        return [
            replace(f, private_origin=origin)
            if (origin := private_origin(f.package, private))
            else replace(f, note=f"{f.note}; {note}" if f.note else note)
            for f in found
        ]
    default = (
        env.get("NPM_CONFIG_REGISTRY")
        or env.get("npm_config_registry")
        or (npmrc.registry[0] if npmrc.registry else None)
    )
    if default is not None and not default.endswith("/"):
        default += "/"
    private = private_registries(default, npmrc.scopes, configured)
    return [
        replace(f, private_origin=origin) if (origin := private_origin(f.package, private)) else f
        for f in found
    ]
