"""`provscore report`: every locked version ranked by publication risk, with its reasons.

read lockfile -> malicious matches (the audit gate's matcher, same database and policy) ->
gather (registry documents as compact per-package histories, insights answers) -> features ->
score -> rank -> policy -> suppressions -> the team's reviews (`scorer.reviews`). A malicious
match is not a feature: it is a hard hit, ranked above every score; so is a failed
verification check when `report_verify` is on. Git, file, link and workspace packages are
listed as not scored, with why. Missing sources make facts unknown (with the reason), never an
error, unless `--strict`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from scorer.audit import AuditOptions, run_audit
from scorer.config import Config, find_config
from scorer.errors import ConfigError, InputError, SourceUnreachable
from scorer.lockfiles import read_lockfile
from scorer.policy import (
    RISK,
    Policy,
    exit_code,
    finding_level,
    resolve,
    threshold_level,
)
from scorer.records import (
    CheckResult,
    Finding,
    Level,
    LockedPackage,
    Outcome,
    RankedPackage,
    RiskReport,
    ScorerInfo,
    Setting,
    SourceKind,
    SuppressedFinding,
    VerifyReport,
)
from scorer.reviews import Review, read_reviews, split_reviews
from scorer.suppressions import Suppression, split_suppressed

if TYPE_CHECKING:
    from scorer.lockdiff import Change

DEFAULT_COOLDOWN_DAYS = 7.0
MAX_SCORE = 100.0
_SEVERITY = {Level.NONE: 0, Level.WARNING: 1, Level.ERROR: 2}
NOT_SCORED = {
    SourceKind.GIT: "git dependency: not published to a registry, so it has no publication history",
    SourceKind.TARBALL: "remote tarball: not a registry download, so it has no publication history",
    SourceKind.FILE: "local file dependency: not published to a registry",
    SourceKind.LINK: "linked directory: not published to a registry",
    SourceKind.WORKSPACE: "workspace package of this project: not published to a registry",
}


@dataclass(frozen=True, slots=True)
class ReportOptions:
    """What `provscore report` was asked. `None` means: from config, then the default."""

    lockfile: Path
    online: bool = False
    db: Path | None = None
    policy: str | None = None
    osv_url: str | None = None
    registry: str | None = None
    insights_url: str | None = None
    offline: bool | None = None
    snapshot: Path | None = None
    cache_dir: Path | None = None
    scorer: str | None = None
    model: Path | None = None
    weights: Path | None = None
    now: datetime | None = None
    risk_warn: float | None = None
    risk_error: float | None = None
    risk_policy: str | None = None
    strict: bool = False
    diff: Path | None = None
    reviews: Path | None = None
    verify: bool | None = None  # None: config report_verify, else off


def _threshold(option: float | None, config: Config, key: str, default: float) -> Setting:
    if option is not None:
        value, origin = float(option), f"--{key.replace('_', '-')}"
    elif (configured := config.get_number(key)) is not None:
        value, origin = configured, f"{config.path} {key}"
    else:
        value, origin = default, "default"
    if not 0 <= value <= 100:
        raise ConfigError(f"{origin}: {key} must be between 0 and 100, got {value:g}")
    return Setting(value, origin)


def _now(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def rank_key(entry: RankedPackage) -> tuple[int, float, str, str]:
    """Malicious hits first, then score descending (unknown scores after known ones, packages
    that cannot be scored last), then name and version."""
    pkg = entry.package
    if entry.malicious or entry.verification:
        group = 0
    elif entry.not_scored is not None:
        group = 3
    elif entry.score is None:
        group = 2
    else:
        group = 1
    return (group, -(entry.score or 0.0), pkg.name, pkg.version)


def worst(*levels: Level) -> Level:
    return max(levels, key=_SEVERITY.__getitem__)


def stopwatch(timings: dict[str, float] | None) -> Callable[[str], None]:
    """`lap(stage)` adds the seconds since the previous lap to `timings[stage]`; a no-op when
    `timings` is None, so the benchmark's hook costs nothing in a normal run."""
    if timings is None:
        return lambda _stage: None
    last = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal last
        now = time.perf_counter()
        timings[stage] = timings.get(stage, 0.0) + now - last
        last = now

    return lap


def run_report(
    options: ReportOptions,
    *,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
    registry_transport: object | None = None,
    timings: dict[str, float] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RiskReport:
    """Run the report. `timings`, when given, is filled with seconds per stage (setup, audit
    = parse + malicious match, the evidence stages, features, frame, score, rank): the
    benchmark's split."""
    lap = stopwatch(timings)
    from scorer.evidence import gather_evidence
    from scorer.features import FeatureSettings, feature_frame, feature_row
    from scorer.scoring import DEFAULT_RISK_ERROR, DEFAULT_RISK_WARN, load_scorer

    env = os.environ if env is None else env
    home = home or Path.home()
    now = _now(options.now)
    config = find_config(options.lockfile.parent)
    risk_policy = resolve(RISK, options.risk_policy, env, config)
    warn = _threshold(options.risk_warn, config, "risk_warn", DEFAULT_RISK_WARN)
    error = _threshold(options.risk_error, config, "risk_error", DEFAULT_RISK_ERROR)
    if warn.value > error.value:
        raise ConfigError(
            f"risk_warn ({warn.value:g}, {warn.origin}) is above risk_error "
            f"({error.value:g}, {error.origin})"
        )
    cooldown = config.get_number("cooldown_days")
    if cooldown is not None and cooldown < 0:
        raise ConfigError(f"{config.path}: cooldown_days must be >= 0")
    settings = FeatureSettings(
        cooldown_days=DEFAULT_COOLDOWN_DAYS if cooldown is None else cooldown
    )
    scorer = load_scorer(
        options.scorer or config.get_str("scorer") or "weighted",
        weights=options.weights or config.get_path("weights"),
        model=options.model or config.get_path("model"),
    )
    lap("setup")

    # The malicious part is the audit gate itself: same database, matcher, policy, suppressions.
    audit = run_audit(
        AuditOptions(
            lockfile=options.lockfile,
            online=options.online,
            db=options.db,
            policy=options.policy,
            osv_url=options.osv_url,
        ),
        env=env,
        today=now.date(),
        home=home,
    )
    lock = audit.lockfile
    lap("audit")

    diff = None
    packages: Sequence[LockedPackage] = lock.packages
    changes: dict[tuple[str, str, SourceKind], Change] = {}
    if options.diff is not None:
        from scorer.lockdiff import diff_lockfiles

        diff = diff_lockfiles(read_lockfile(options.diff), lock)
        changes = {(c.package.name, c.package.version, c.package.source): c for c in diff.changes}
        # The malicious gate still covers the whole lockfile: an advisory published today for a
        # version locked long ago must fail the pull request that keeps it, not only new ones.
        changed = {(c.package.name, c.package.version, c.package.source) for c in diff.changes}
        hit = {(f.package.name, f.package.version, f.package.source) for f in audit.findings}
        packages = [c.package for c in diff.changes] + [
            p for p in lock.packages if (p.name, p.version, p.source) in hit - changed
        ]

    keys = sorted({p.key for p in packages if p.source is SourceKind.REGISTRY})
    offline = options.offline if options.offline is not None else bool(config.get_bool("offline"))
    snapshot = options.snapshot or config.get_path("snapshot")
    if offline and snapshot is not None and not snapshot.is_dir():
        # A mistyped path would leave every fact unknown and so flag nothing: bad input, not data.
        raise InputError(snapshot, "no such snapshot directory to read offline")
    evidence = gather_evidence(
        keys,
        packages=lock.packages,
        project_dir=options.lockfile.parent,
        config=config,
        env=env,
        home=home,
        registry_url=options.registry,
        insights_url=options.insights_url,
        offline=offline,
        snapshot_dir=snapshot,
        cache_dir=options.cache_dir or config.get_path("cache_dir"),
        strict=options.strict,
        transport=registry_transport,
        lap=lap,
        progress=progress,
    )
    if options.strict and evidence.unreachable:
        raise SourceUnreachable("; ".join(evidence.unreachable))
    wanted = options.verify if options.verify is not None else config.get_bool("report_verify")
    verified = _verify(options, offline, env, home, registry_transport) if wanted else None
    lap("verify")

    unverified = (
        "provenance not verified (report_verify is off)"
        if verified is None
        else "verify had no registry document for this version"
    )
    changes_by_key = {
        vp.package.key: vp.provenance_change
        for vp in (verified.packages if verified is not None else ())
        if vp.package.source is SourceKind.REGISTRY
    }
    rows = [
        feature_row(
            name,
            version,
            evidence.histories.get(name),
            evidence.history_missing.get(name),
            evidence.answers.get((name, version)),
            evidence.insights_missing,
            now=now,
            settings=settings,
            provenance_change=changes_by_key.get((name, version)),
            provenance_missing=unverified,
        )
        for name, version in keys
    ]
    lap("features")
    frame = feature_frame(rows) if rows else None
    lap("frame")
    scored = dict(zip(keys, scorer.score(frame), strict=True)) if frame is not None else {}
    lap("score")
    by_key = {(r.name, r.version): r for r in rows}

    findings: dict[tuple[str, str, SourceKind], list[Finding]] = {}
    for finding in audit.findings:
        p = finding.package
        findings.setdefault((p.name, p.version, p.source), []).append(finding)
    silenced: dict[tuple[str, str, SourceKind], list[SuppressedFinding]] = {}
    for sf in audit.suppressed:
        p = sf.finding.package
        silenced.setdefault((p.name, p.version, p.source), []).append(sf)
    mal_level = finding_level(audit.policy)

    checks: dict[tuple[str, str, SourceKind], tuple[CheckResult, ...]] = {}
    for vp in verified.packages if verified is not None else ():
        failed = tuple(r for r in vp.results if r.outcome is Outcome.FAILED)
        if failed:
            checks[(vp.package.name, vp.package.version, vp.package.source)] = failed

    draft: list[RankedPackage] = []
    for pkg in packages:
        ident = (pkg.name, pkg.version, pkg.source)
        hits = tuple(findings.get(ident, ()))
        if pkg.source is SourceKind.REGISTRY:
            s = scored.get(pkg.key)
            level = threshold_level(
                s.score if s else None, warn.value, error.value, risk_policy.policy
            )
            entry = RankedPackage(
                pkg,
                level,
                hits,
                scored=s,
                row=by_key.get(pkg.key),
                change=changes.get(ident),
                suppressed_malicious=tuple(silenced.get(ident, ())),
            )
        else:
            entry = RankedPackage(
                pkg,
                Level.NONE,
                hits,
                not_scored=NOT_SCORED[pkg.source],
                change=changes.get(ident),
                suppressed_malicious=tuple(silenced.get(ident, ())),
            )
        if ident in checks:
            entry = replace(
                entry,
                verification=checks[ident],
                level=worst(entry.level, *(r.level for r in checks[ident])),
            )
        draft.append(entry)

    # A reviewed risk flag is suppressed by `package = "name@version"`; suppressed malicious
    # findings were already taken out by the audit gate.
    flagged = [i for i, e in enumerate(draft) if e.level is not Level.NONE]
    matched, risk_unused, _expired = split_suppressed(
        [(draft[i].package.spec, ()) for i in flagged], config.suppressions, now.date()
    )
    final = list(draft)
    for i, by in zip(flagged, matched, strict=True):
        if by is not None:
            final[i] = _replace_level(draft[i], Level.NONE, by)
    reviews_path = options.reviews or config.get_path("reviews")
    unused_reviews: tuple[Review, ...] = ()
    expired_reviews: tuple[Review, ...] = ()
    if reviews_path is not None:
        final, unused_reviews, expired_reviews = _apply_reviews(
            final, read_reviews(reviews_path), now, warn.value, error.value, risk_policy.policy
        )
    final = [
        _replace_level(e, worst(e.level, mal_level), e.suppressed) if e.malicious else e
        for e in final
    ]
    # Unused means it silenced neither a malicious finding nor a risk flag.
    unused = tuple(s for s in risk_unused if s in audit.unused_suppressions)
    report = RiskReport(
        lockfile=lock,
        now=now,
        scorer=ScorerInfo(scorer.kind, scorer.name, scorer.sha256),
        malicious_policy=audit.policy,
        malicious_policy_origin=audit.policy_origin,
        risk_policy=risk_policy.policy,
        risk_policy_origin=risk_policy.origin,
        risk_warn=warn,
        risk_error=error,
        sources=(*audit.sources, *evidence.sources),
        packages=tuple(sorted(final, key=rank_key)),
        exit_code=exit_code(e.level for e in final),
        suppressed_malicious_count=len(audit.suppressed),
        unused_suppressions=unused,
        expired_suppressions=audit.expired_suppressions,
        diff=diff,
        unused_reviews=unused_reviews,
        expired_reviews=expired_reviews,
        verify_policy=verified.policy if verified is not None else None,
        verify_policy_origin=verified.policy_origin if verified is not None else None,
    )
    lap("rank")
    return report


def _apply_reviews(
    entries: list[RankedPackage],
    reviews: Sequence[Review],
    now: datetime,
    warn: float,
    error: float,
    policy: Policy,
) -> tuple[list[RankedPackage], tuple[Review, ...], tuple[Review, ...]]:
    """A live benign review lowers its version's risk flag like a suppression; a malicious
    one raises it to the level of a maximal score. Only the risk part: malicious advisory hits
    are merged in afterwards, untouched. Returns the entries, unused and expired reviews."""
    from dataclasses import replace

    live, expired = split_reviews(reviews, now.date())
    used: set[str] = set()
    out = []
    for entry in entries:
        review = live.get(entry.package.spec)
        if review is None or entry.package.source is not SourceKind.REGISTRY:
            out.append(entry)
        elif review.verdict == "benign" and entry.level is not Level.NONE:
            out.append(replace(entry, level=Level.NONE, reviewed=review))
            used.add(review.spec)
        elif review.verdict == "malicious":
            level = worst(entry.level, threshold_level(MAX_SCORE, warn, error, policy))
            out.append(replace(entry, level=level, reviewed=review))
            used.add(review.spec)
        else:
            out.append(entry)  # a benign review of an unflagged version silences nothing
    unused = tuple(r for spec, r in live.items() if spec not in used)
    return out, unused, expired


def _replace_level(entry: RankedPackage, level: Level, by: Suppression | None) -> RankedPackage:
    return replace(entry, level=level, suppressed=by)


def _verify(
    options: ReportOptions,
    offline: bool,
    env: Mapping[str, str],
    home: Path,
    transport: object | None,
) -> VerifyReport:
    """`provscore verify` on the same lockfile, registry, cache and offline choice."""
    from scorer.verify import VerifyOptions, run_verify

    return run_verify(
        VerifyOptions(
            lockfile=options.lockfile,
            registry=options.registry,
            offline=offline,
            cache_dir=options.cache_dir,
        ),
        env=env,
        home=home,
        registry_transport=transport,  # type: ignore[arg-type]
    )
