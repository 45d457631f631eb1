"""A team's review decisions on flagged versions: the reviews file (CSV), read and checked.

One row per reviewed version: `name,version,verdict,reason,reviewer,date[,until]`, verdict
`benign` or `malicious`, `date` and `until` as YYYY-MM-DD. `report --reviews FILE` (or config
`reviews`) treats a live `benign` review like a suppression of that version's risk flag and
reports the version as reviewed; a `malicious` review raises the version to the risk policy's
level for a maximal score. Reviews never touch malicious advisory matches: a team's verdict
on how a version was published is no reason to ignore a known-malware record. An expired review
(after `until`) applies to nothing and is reported, and so is a live one that matched nothing.
`train --reviews FILE` adds the reviewed versions as labelled rows. Standard library only.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scorer.errors import InputError

COLUMNS = ("name", "version", "verdict", "reason", "reviewer", "date", "until")
REQUIRED = COLUMNS[:-1]
VERDICTS = ("benign", "malicious")


@dataclass(frozen=True, slots=True)
class Review:
    """One review decision; `line` is its line in the file, for messages."""

    name: str
    version: str
    verdict: str  # "benign" or "malicious"
    reason: str
    reviewer: str
    date: dt.date
    until: dt.date | None = None
    line: int = 0

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    def expired(self, today: dt.date) -> bool:
        """True after `until` (the day itself still counts)."""
        return self.until is not None and today > self.until

    def to_json(self) -> dict[str, str | None]:
        return {
            "package": self.spec,
            "verdict": self.verdict,
            "reason": self.reason,
            "reviewer": self.reviewer,
            "date": self.date.isoformat(),
            "until": self.until.isoformat() if self.until else None,
        }


def _date(path: Path, line: int, column: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(path, f"{column} must be YYYY-MM-DD, got {value!r}", line) from None


def parse_reviews(path: Path, text: str) -> tuple[Review, ...]:
    """Check a reviews file's text; any problem is an InputError naming the file and line."""
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None:
        raise InputError(path, f"empty reviews file: expected the header {','.join(COLUMNS)}")
    header = [h.strip() for h in header]
    unknown = sorted(set(header) - set(COLUMNS))
    missing = [c for c in REQUIRED if c not in header]
    if unknown or missing or len(set(header)) != len(header):
        raise InputError(
            path,
            f"header must be {','.join(REQUIRED)}[,until]; "
            + "; ".join(
                part
                for part in (
                    f"unknown column(s) {', '.join(unknown)}" if unknown else "",
                    f"missing column(s) {', '.join(missing)}" if missing else "",
                    "a column appears twice" if len(set(header)) != len(header) else "",
                )
                if part
            ),
        )
    reviews: list[Review] = []
    seen: dict[str, int] = {}
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise InputError(path, f"{len(cells)} fields, expected {len(header)}", line)
        row = {h: c.strip() for h, c in zip(header, cells, strict=True)}
        for column in REQUIRED:
            if not row[column]:
                raise InputError(path, f"{column} is empty", line)
        if row["verdict"] not in VERDICTS:
            raise InputError(
                path, f"verdict must be benign or malicious, got {row['verdict']!r}", line
            )
        review = Review(
            row["name"],
            row["version"],
            row["verdict"],
            row["reason"],
            row["reviewer"],
            _date(path, line, "date", row["date"]),
            _date(path, line, "until", row["until"]) if row.get("until") else None,
            line,
        )
        if review.until is not None and review.until < review.date:
            raise InputError(path, f"until {review.until} is before date", line)
        if review.spec in seen:
            raise InputError(
                path, f"{review.spec} was already reviewed on line {seen[review.spec]}", line
            )
        seen[review.spec] = line
        reviews.append(review)
    return tuple(reviews)


def read_reviews(path: Path) -> tuple[Review, ...]:
    """Read and check a reviews file (UTF-8 CSV)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read the reviews file: {exc}") from None
    return parse_reviews(path, text)


def split_reviews(
    reviews: Sequence[Review], today: dt.date
) -> tuple[dict[str, Review], tuple[Review, ...]]:
    """Live reviews by `name@version`, and the expired ones (which apply to nothing)."""
    live = {r.spec: r for r in reviews if not r.expired(today)}
    expired = tuple(r for r in reviews if r.expired(today))
    return live, expired


__all__ = ["COLUMNS", "VERDICTS", "Review", "parse_reviews", "read_reviews", "split_reviews"]
