"""`provscore verify`: every locked registry version's bytes, signature, provenance and origin.

read lockfile (registry versions, and remote tarballs, which claim a name and version too)
-> registry documents, signing keys and attestations (the registry client: its
cache, retries and URL rules; offline reads the cache only) -> the four pure checks
(`signatures.check_integrity`, `signatures.check_signature`, `provenance.check_provenance`,
`origin.check_origin`) -> name collisions (malicious advisories of the local database naming a
package the lockfile resolves from a private registry) -> policy (`VERIFY`) -> exit code. A
version that cannot be checked is data (`unverifiable` with why), never an error; a run that
cannot start (no registry configured, a bad pinned key file) is a `ConfigError`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scorer.config import Config, find_config
from scorer.errors import ConfigError, InputError, parser_limit
from scorer.lockfiles import read_lockfile
from scorer.npmrc import HOW_TO_SET, Npmrc, RegistrySelection, load_npmrc, select_registry
from scorer.origin import check_origin, private_origin, private_registries
from scorer.policy import VERIFY, check_level, collision_level, exit_code, resolve
from scorer.provenance import SigstoreVerify, check_provenance, provenance_change
from scorer.records import (
    CheckResult,
    Finding,
    Level,
    LockedPackage,
    SourceInfo,
    SourceKind,
    VerifiedPackage,
    VerifyReport,
)
from scorer.signatures import KeySet, check_integrity, check_signature, parse_keys, parse_time
from scorer.suppressions import Suppression, split_suppressed

if TYPE_CHECKING:
    import httpx

    from scorer.registry import FetchResult, RegistryClient

_LEVELS = (Level.ERROR, Level.WARNING, Level.NONE)
CHECKED = (SourceKind.REGISTRY, SourceKind.TARBALL)


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    """`provscore verify`'s options; None: from the environment, config or default."""

    lockfile: Path
    registry: str | None = None
    offline: bool | None = None
    cache_dir: Path | None = None
    policy: str | None = None


def _selection(
    option: str | None,
    env: Mapping[str, str],
    config: Config,
    npmrc: Npmrc,
    packages: Sequence[LockedPackage],
) -> RegistrySelection:
    """The option, the environment, the .npmrc, config `registry`, then the lockfile's own
    origin; nothing at all is an error, since nothing can be verified without a registry."""
    named = option or env.get("NPM_CONFIG_REGISTRY") or env.get("npm_config_registry")
    if named or npmrc.registry is not None:
        return select_registry(option, env, npmrc, packages)
    configured = config.get_str("registry")
    if configured:
        selection = select_registry(configured, {}, npmrc, packages)
        return replace(selection, origin=f"{config.path} registry")
    try:
        return select_registry(None, {}, npmrc, packages)
    except ConfigError:
        raise ConfigError(HOW_TO_SET + ", or registry in provscore.toml") from None


def _worst(levels: Sequence[Level]) -> Level:
    return next((level for level in _LEVELS if level in levels), Level.NONE)


def _pinned_keys(config: Config, registry: str) -> KeySet | None:
    path = config.get_path("verify_keys") if config.get_str("verify_keys") else None
    if path is None:
        return None
    try:
        body = json.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(path, f"cannot read the pinned keys (config verify_keys): {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise InputError(path, f"pinned keys are not JSON: {parser_limit(exc)}") from None
    try:
        keys = parse_keys(body, str(path))
    except ValueError as exc:
        raise InputError(path, str(exc).removeprefix(f"{path}: ")) from None
    return KeySet(registry, keys, f"pinned in {path}")


def _keyset(registry: str, fetched: FetchResult) -> KeySet:
    where = f"{registry}-/npm/v1/keys"
    if fetched.document is None:
        reason = fetched.reason or "no answer"
        if "HTTP 404" in reason:
            return KeySet(registry, (), where, f"{registry} publishes no signing keys (HTTP 404)")
        return KeySet(registry, (), where, f"its signing keys could not be fetched: {reason}")
    try:
        keys = parse_keys(fetched.document, where)
    except ValueError as exc:
        return KeySet(registry, (), where, f"its keys answer is unusable: {exc}")
    origin = f"{where} ({fetched.via})"
    return KeySet(registry, keys, origin, None if keys else f"{where} lists no keys")


def _collisions(
    packages: Sequence[LockedPackage],
    private: Sequence[str],
    env: Mapping[str, str],
    config: Config,
    home: Path,
) -> tuple[dict[tuple[str, str], tuple[Finding, ...]], SourceInfo]:
    """Malicious advisories of the local database naming a package resolved from a private
    registry: name collisions, by package key. Without a database they are not checked (said
    in the source's note)."""
    from scorer.audit import default_db

    db = default_db(env, config, home)
    candidates = [(p, o) for p in packages if (o := private_origin(p, private)) is not None]
    if not db.exists():
        note = "no advisory database: name collisions not checked"
        return {}, SourceInfo("local-db", str(db), note=note)
    from scorer.audit import incidents
    from scorer.osv.advisories import match
    from scorer.osv.index import open_database

    cache = Path(env.get("XDG_CACHE_HOME") or home / ".cache") / "provscore" / "osv-index"
    index = open_database(db, cache_dir=cache)
    hits = match([p for p, _ in candidates], index)
    out: dict[tuple[str, str], tuple[Finding, ...]] = {}
    for (pkg, origin), found in zip(candidates, hits, strict=True):
        if found:
            out[pkg.key] = tuple(
                replace(f, private_origin=origin) for f in incidents(pkg, found, "local")
            )
    note = f"name collisions: {len(candidates)} privately resolved packages looked up"
    return out, SourceInfo("local-db", str(db), records=index.record_count, note=note)


def run_verify(
    options: VerifyOptions,
    *,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
    registry_transport: httpx.BaseTransport | None = None,
    sigstore_verify: SigstoreVerify | None = None,
    timings: MutableMapping[str, float] | None = None,
    today: date | None = None,
) -> VerifyReport:
    """Verify every locked registry version of `options.lockfile`. `sigstore_verify` replaces
    the sigstore library's verdict (tests); `timings` collects seconds per stage and check;
    `today` decides which suppressions have expired (default: today in UTC)."""
    env = os.environ if env is None else env
    home = home or Path.home()
    clock = time.perf_counter
    started = clock()

    def lap(stage: str, since: float) -> float:
        now = clock()
        if timings is not None:
            timings[stage] = timings.get(stage, 0.0) + now - since
        return now

    lock = read_lockfile(options.lockfile)
    project = options.lockfile.parent
    config = find_config(project)
    policy = resolve(VERIFY, options.policy, env, config)
    npmrc = load_npmrc(project, env)
    # A remote tarball still claims a name and version: an edited lockfile pointing a registry
    # package at another tarball is read as one, so it is checked like a registry download.
    registry_packages = [p for p in lock.packages if p.source in CHECKED]
    selection = _selection(options.registry, env, config, npmrc, registry_packages)
    offline = options.offline if options.offline is not None else bool(config.get_bool("offline"))
    cache_dir = options.cache_dir or (
        config.get_path("cache_dir") if config.get_str("cache_dir") else None
    )
    from scorer.registry import RegistryClient

    client = RegistryClient(
        selection,
        npmrc=npmrc,
        cache_dir=cache_dir or home / ".provscore" / "cache",
        offline=offline,
        transport=registry_transport,
    )
    at = lap("read", started)
    documents = client.fetch_sync(p.name for p in registry_packages)
    at = lap("fetch documents", at)
    keysets = _keysets(client, config, selection, {d.registry for d in documents.values()})
    at = lap("fetch keys", at)
    dists = {p.key: _dist(documents[p.name], p) for p in registry_packages}
    listed = [k for k, (dist, _, _) in dists.items() if dist is not None and "attestations" in dist]
    # The last earlier version with provenance of each attested one: their sources are compared.
    previous = {k: _previous_attested(documents[k[0]].document, k[1]) for k in listed}
    wanted = sorted({*listed, *((k[0], v) for k, v in previous.items() if v is not None)})
    attestations = client.fetch_attestations_sync(wanted) if wanted else {}
    at = lap("fetch attestations", at)
    private = private_registries(
        selection.url, selection.scopes, config.get_str_list("private_registries")
    )
    collisions, db_source = _collisions(registry_packages, private, env, config, home)
    at = lap("name collisions", at)

    verify_bundle = sigstore_verify
    if verify_bundle is None and listed:
        from scorer.provenance import sigstore_verifier

        verify_bundle = sigstore_verifier()
    at = lap("sigstore setup", at)
    allowed = config.get_str_list("verify_allowed_hosts")
    checked: list[VerifiedPackage] = []
    for pkg in registry_packages:
        dist, published, why = dists[pkg.key]
        registry = selection.for_package(pkg.name)
        keys = keysets[registry]
        fetched = attestations.get(pkg.key)
        body = fetched.document if fetched is not None else None
        body_why = fetched.reason if fetched is not None else why
        scope = selection.scopes.get(pkg.name.split("/", 1)[0]) if pkg.name[:1] == "@" else None
        origin_of = scope[1] if scope is not None else selection.origin
        at = lap("per-version setup", at)
        results = [check_integrity(pkg, dist, why)]
        at = lap("check integrity", at)
        results.append(check_signature(pkg, dist, published, keys, why))
        at = lap("check signature", at)
        results.append(
            check_provenance(
                pkg, dist, body, body_why, keys, verify_bundle or _no_sigstore, published
            )
        )
        at = lap("check provenance", at)
        results.append(check_origin(pkg, registry, origin_of, allowed))
        at = lap("check origin", at)
        change = None
        if dist is not None:
            before = previous.get(pkg.key)
            earlier = None
            if before is not None:
                earlier = _check_previous(
                    documents[pkg.name], pkg.name, before, attestations, keys, verify_bundle
                )
            change = provenance_change(results[2], "attestations" in dist, before, earlier)
        at = lap("provenance change", at)
        results = [replace(r, level=check_level(r.severity, policy.policy)) for r in results]
        at = lap("policy", at)
        found = collisions.get(pkg.key, ())
        level_c = collision_level(policy.policy) if found else Level.NONE
        checked.append(
            VerifiedPackage(
                pkg,
                tuple(results),
                _worst([r.level for r in results] + [level_c]),
                found,
                level_c,
                change,
            )
        )
    checked, expired = _suppress(checked, config, today or datetime.now(UTC).date())
    stats = client.stats
    sources = (
        SourceInfo(
            "registry",
            selection.describe(),
            requests=stats.requests,
            asked=len(documents),
            answered=sum(1 for d in documents.values() if d.document is not None),
            failed=sum(1 for d in documents.values() if d.document is None),
            note="offline: from the cache" if offline else None,
        ),
        db_source,
    )
    key_lines = tuple(
        f"{registry}: "
        + (", ".join(k.keyid for k in ks.keys) or "none")
        + f" ({ks.why or ks.origin})"
        for registry, ks in sorted(keysets.items())
    )
    lap("verify", started)
    return VerifyReport(
        lockfile=lock,
        registry=selection.url,
        registry_origin=selection.origin,
        policy=policy.policy,
        policy_origin=policy.origin,
        sources=sources,
        packages=tuple(checked),
        exit_code=exit_code(p.level for p in checked),
        not_checked=tuple(p for p in lock.packages if p.source not in CHECKED),
        keys=key_lines,
        offline=offline,
        expired_suppressions=expired,
    )


def _suppress(
    checked: list[VerifiedPackage], config: Config, today: date
) -> tuple[list[VerifiedPackage], tuple[Suppression, ...]]:
    """Silence the findings of versions a live suppression names (`name@version`, or an
    advisory id of a name collision), as `audit` does. Suppressions that match no finding here
    are not reported as unused: most are written for `audit`'s findings and would be noise."""
    flagged = [v for v in checked if v.level is not Level.NONE]
    matched, _, expired = split_suppressed(
        [
            (f"{v.package.name}@{v.package.version}", tuple(i for f in v.collisions for i in f.ids))
            for v in flagged
        ],
        config.suppressions,
        today,
    )
    by = {id(v): s for v, s in zip(flagged, matched, strict=True) if s is not None}
    out = [
        replace(v, level=Level.NONE, suppressed=by[id(v)]) if id(v) in by else v for v in checked
    ]
    return out, tuple(expired)


def _no_sigstore(bundle: Mapping[str, Any]) -> Any:  # pragma: no cover - never reached
    raise AssertionError("attestations present but no sigstore verifier was made")


def _keysets(
    client: RegistryClient, config: Config, selection: RegistrySelection, registries: set[str]
) -> dict[str, KeySet]:
    """Each registry's keys: pinned in config (the default registry only), else fetched."""
    out: dict[str, KeySet] = {}
    registries = registries | {selection.url} | {u for u, _ in selection.scopes.values()}
    pinned = _pinned_keys(config, selection.url)
    if pinned is not None:
        out[selection.url] = pinned
    fetch = sorted(r for r in registries if r not in out)
    if fetch:
        for registry, result in client.fetch_keys_sync(fetch).items():
            out[registry] = _keyset(registry, result)
    return out


def _dist(fetched: FetchResult, pkg: LockedPackage) -> tuple[dict[str, Any] | None, Any, str]:
    """A version's `dist`, its publish time, and why there is no dist when there is none."""
    document = fetched.document
    if document is None:
        return None, None, fetched.reason or f"no registry document for {pkg.name}"
    versions = document.get("versions")
    manifest = versions.get(pkg.version) if isinstance(versions, Mapping) else None
    if not isinstance(manifest, Mapping):
        return None, None, f"{pkg.spec} is not in {fetched.registry}'s document for {pkg.name}"
    dist = manifest.get("dist")
    if not isinstance(dist, dict):
        return None, None, f"{pkg.spec} has no dist in the registry document"
    times = document.get("time")
    published = parse_time(times.get(pkg.version)) if isinstance(times, Mapping) else None
    return dist, published, ""


def _previous_attested(document: Mapping[str, Any] | None, version: str) -> str | None:
    """The latest version published before `version` whose dist lists attestations; None when
    there is none or publish times are missing."""
    if document is None:
        return None
    times, versions = document.get("time"), document.get("versions")
    if not isinstance(times, Mapping) or not isinstance(versions, Mapping):
        return None
    mine = parse_time(times.get(version))
    if mine is None:
        return None
    best: tuple[Any, str] | None = None
    for other, manifest in versions.items():
        dist = manifest.get("dist") if isinstance(manifest, Mapping) else None
        when = parse_time(times.get(other))
        if (
            other != version
            and isinstance(dist, Mapping)
            and "attestations" in dist
            and when is not None
            and when < mine
            and (best is None or when > best[0])
        ):
            best = (when, other)
    return best[1] if best else None


def _check_previous(
    fetched: FetchResult,
    name: str,
    version: str,
    attestations: Mapping[tuple[str, str], FetchResult],
    keys: KeySet,
    verify_bundle: SigstoreVerify | None,
) -> CheckResult:
    """The provenance check of an earlier version, for its source facts."""
    earlier = LockedPackage(name, version, SourceKind.REGISTRY)
    dist, published, why = _dist(fetched, earlier)
    answer = attestations.get((name, version))
    body = answer.document if answer is not None else None
    return check_provenance(
        earlier,
        dist,
        body,
        answer.reason if answer is not None else why,
        keys,
        verify_bundle or _no_sigstore,
        published,
    )
