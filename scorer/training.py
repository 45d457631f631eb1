"""Training data for the trained scorer: labelled rows, made by the feature code `report` uses.

A row is one version's features (`scorer.features.feature_row`, the very function the report
calls), its label (1 malicious, 0 benign), its package name (the cross-validation group), where
its facts come from (`origin`: `real` registry documents, `constructed` histories around
documented incident facts, or a team's `review`), the scan time it was computed at and a source
note. For a constructed row, `documented` lists the features the incident's sources state: each
must come out of the feature code with the documented value (so the construction encodes the
facts), and every other feature is made unknown, since a constructed history's invented details
are not facts. `rows.csv` holds 1, 0 or nothing (unknown) per feature. `train` lives in
`scorer.train`, the only module that imports scikit-learn.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

from scorer.errors import InputError
from scorer.features import FEATURE_NAMES, FeatureSettings, PackageHistory, feature_row

if TYPE_CHECKING:
    from scorer.insights.client import InsightsAnswer
    from scorer.reviews import Review

ORIGINS = ("real", "constructed", "review")
META_COLUMNS = ("name", "version", "label", "origin", "scan_time", "source")
COLUMNS = (*META_COLUMNS, *FEATURE_NAMES)
NOT_DOCUMENTED = "not stated by the incident's sources"


@dataclass(frozen=True, slots=True)
class TrainingRow:
    """One labelled version. `values` maps every feature to 1.0, 0.0 or NaN (unknown)."""

    name: str
    version: str
    label: int
    origin: str
    scan_time: str
    source: str
    values: Mapping[str, float]


def training_row(
    name: str,
    version: str,
    *,
    label: int,
    origin: str,
    source: str,
    history: PackageHistory | None,
    history_missing: str | None = None,
    answer: InsightsAnswer | None = None,
    insights_missing: str = "no insights answer for training data",
    now: datetime,
    settings: FeatureSettings | None = None,
    documented: Mapping[str, float] | None = None,
) -> TrainingRow:
    """The row of `name@version` from the report's own feature code (pure). With `documented`,
    the features it does not name become unknown, and those it names must match."""
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {ORIGINS}, got {origin!r}")
    if label not in (0, 1):
        raise ValueError(f"label must be 0 or 1, got {label!r}")
    row = feature_row(
        name,
        version,
        history,
        history_missing,
        answer,
        insights_missing,
        now=now,
        settings=settings or FeatureSettings(),
    )
    values = dict(row.values)
    if documented is not None:
        unknown = sorted(set(documented) - set(FEATURE_NAMES))
        if unknown:
            raise ValueError(f"{name}@{version}: unknown documented feature(s) {unknown}")
        for feature in FEATURE_NAMES:
            if feature not in documented:
                values[feature] = math.nan
                continue
            computed = values[feature]
            if math.isnan(computed) or computed != documented[feature]:
                why = row.unknown.get(feature, "")
                raise ValueError(
                    f"{name}@{version}: the constructed history gives {feature} = {computed} "
                    f"{why}, the sources say {documented[feature]}"
                )
    return TrainingRow(name, version, label, origin, now.isoformat(), source, values)


def _cell(value: float) -> str:
    return "" if math.isnan(value) else f"{value:g}"


def rows_csv(rows: Iterable[TrainingRow]) -> str:
    """The rows as CSV text (LF line ends, sorted by label, origin, name and version)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in sorted(rows, key=lambda r: (-r.label, r.origin, r.name, r.version)):
        writer.writerow(
            [r.name, r.version, r.label, r.origin, r.scan_time, r.source]
            + [_cell(r.values[f]) for f in FEATURE_NAMES]
        )
    return buffer.getvalue()


def parse_rows(path: Path, text: str) -> list[TrainingRow]:
    """Check training data text; any problem is an InputError naming the file and line."""
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None or tuple(header) != COLUMNS:
        got = ",".join(header) if header else "nothing"
        missing = [c for c in COLUMNS if c not in (header or [])]
        extra = [c for c in (header or []) if c not in COLUMNS]
        detail = "; ".join(
            p
            for p in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unknown {', '.join(extra)}" if extra else "",
            )
            if p
        )
        raise InputError(
            path,
            f"header must be {','.join(COLUMNS)} ({detail or 'order differs'}); got {got[:200]}",
        )
    rows: list[TrainingRow] = []
    for line, cells in enumerate(reader, start=2):
        if len(cells) != len(COLUMNS):
            raise InputError(path, f"{len(cells)} fields, expected {len(COLUMNS)}", line)
        name, version, label, origin, scan_time, source = cells[: len(META_COLUMNS)]
        if not name or not version:
            raise InputError(path, "name and version must not be empty", line)
        if label not in ("0", "1"):
            raise InputError(path, f"label must be 0 or 1, got {label!r}", line)
        if origin not in ORIGINS:
            raise InputError(path, f"origin must be one of {', '.join(ORIGINS)}", line)
        values: dict[str, float] = {}
        for feature, cell in zip(FEATURE_NAMES, cells[len(META_COLUMNS) :], strict=True):
            if cell not in ("", "0", "1"):
                raise InputError(path, f"{feature} must be 1, 0 or empty, got {cell!r}", line)
            values[feature] = math.nan if cell == "" else float(cell)
        rows.append(TrainingRow(name, version, int(label), origin, scan_time, source, values))
    if not rows:
        raise InputError(path, "no rows")
    return rows


def read_rows(path: Path) -> list[TrainingRow]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read the training data: {exc}") from None
    return parse_rows(path, text)


def review_rows(
    reviews: Sequence[Review],
    *,
    snapshot_dir: Path | None,
    cache_dir: Path | None,
    home: Path,
    settings: FeatureSettings | None = None,
) -> list[TrainingRow]:
    """Labelled rows for reviewed versions, features recomputed offline from the snapshot or
    cache the versions were reviewed against, at the end of the review day (the scan time)."""
    from scorer.config import Config
    from scorer.evidence import gather_evidence

    keys = sorted({(r.name, r.version) for r in reviews})
    evidence = gather_evidence(
        keys,
        packages=[],
        project_dir=Path.cwd(),
        config=Config(),
        env={},
        home=home,
        registry_url=None,
        insights_url=None,
        offline=True,
        snapshot_dir=snapshot_dir,
        cache_dir=cache_dir,
        strict=False,
    )
    rows = []
    for r in reviews:
        now = datetime.combine(r.date, time(23, 59, 59), tzinfo=UTC)
        rows.append(
            training_row(
                r.name,
                r.version,
                label=1 if r.verdict == "malicious" else 0,
                origin="review",
                source=f"reviewed {r.verdict} by {r.reviewer} on {r.date}: {r.reason}",
                history=evidence.histories.get(r.name),
                history_missing=evidence.history_missing.get(r.name),
                answer=evidence.answers.get((r.name, r.version)),
                insights_missing=evidence.insights_missing,
                now=now,
                settings=settings,
            )
        )
    return rows


def merge_reviews(
    rows: Sequence[TrainingRow], reviewed: Sequence[TrainingRow]
) -> tuple[list[TrainingRow], int]:
    """The data with each reviewed version's row replaced by (or added as) its review row; the
    team's decision wins over the shipped label. Returns the rows and how many were replaced."""
    keys = {(r.name, r.version) for r in reviewed}
    kept = [r for r in rows if (r.name, r.version) not in keys]
    return [*kept, *reviewed], len(rows) - len(kept)


__all__ = [
    "COLUMNS",
    "ORIGINS",
    "TrainingRow",
    "merge_reviews",
    "parse_rows",
    "read_rows",
    "review_rows",
    "rows_csv",
    "training_row",
]
