"""The reviews file and how `report` applies it: a benign review silences a risk flag and is
reported as reviewed; a malicious one raises the level; expired and unused reviews are
reported; malicious advisory matches are never touched. Runs on the shipped offline example."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from scorer.errors import InputError
from scorer.records import Level
from scorer.report.as_json import risk_report_json
from scorer.report.text import risk_text
from scorer.reviews import Review, parse_reviews, read_reviews, split_reviews
from scorer.risk import ReportOptions, run_report

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "examples" / "npm-app"
NOW = datetime(2026, 4, 1, tzinfo=UTC)
HEADER = "name,version,verdict,reason,reviewer,date,until\n"


def test_parse_reviews() -> None:
    text = (
        HEADER
        + "left-pad,1.3.1,benign,maintainer confirmed,alice,2026-11-30,2027-03-31\n"
        + "\n"
        + '"@scope/x",2.0.0,malicious,"steals tokens, on install",bob,2026-11-30,\n'
    )
    reviews = parse_reviews(Path("r.csv"), text)
    assert reviews[0] == Review(
        "left-pad",
        "1.3.1",
        "benign",
        "maintainer confirmed",
        "alice",
        date(2026, 11, 30),
        date(2027, 3, 31),
        2,
    )
    assert reviews[1].spec == "@scope/x@2.0.0" and reviews[1].until is None
    assert reviews[1].reason == "steals tokens, on install"
    live, expired = split_reviews(reviews, date(2027, 4, 1))
    assert list(live) == ["@scope/x@2.0.0"] and expired == (reviews[0],)
    # The `until` column is optional.
    short = parse_reviews(
        Path("r.csv"), "name,version,verdict,reason,reviewer,date\na,1,benign,x,y,2026-01-01\n"
    )
    assert short[0].until is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty reviews file"),
        ("name,version,verdict\n", "missing column(s) reason, reviewer, date"),
        (HEADER.replace("until", "expires"), "unknown column(s) expires"),
        (HEADER + "a,1,fine,x,y,2026-01-01,\n", "r.csv:2: verdict must be benign or malicious"),
        (HEADER + "a,1,benign,,y,2026-01-01,\n", "r.csv:2: reason is empty"),
        (HEADER + "a,1,benign,x,y,30/11/2026,\n", "r.csv:2: date must be YYYY-MM-DD"),
        (HEADER + "a,1,benign,x,y,2026-01-01\n", "r.csv:2: 6 fields, expected 7"),
        (HEADER + "a,1,benign,x,y,2026-01-02,2026-01-01\n", "until 2026-01-01 is before date"),
        (
            HEADER + "a,1,benign,x,y,2026-01-01,\na,1,malicious,x,y,2026-01-01,\n",
            "r.csv:3: a@1 was already reviewed on line 2",
        ),
    ],
)
def test_reviews_file_errors(text: str, problem: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_reviews(Path("r.csv"), text)
    assert problem in str(exc.value)
    assert exc.value.exit_code == 2


def test_unreadable_reviews_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the reviews file"):
        read_reviews(tmp_path / "absent.csv")


def _example(tmp_path: Path) -> Path:
    target = tmp_path / "npm-app"
    shutil.copytree(EXAMPLE, target)
    return target / "package-lock.json"


def test_report_applies_reviews(tmp_path: Path) -> None:
    lock = _example(tmp_path)
    reviews = tmp_path / "reviews.csv"
    reviews.write_text(
        HEADER + "provscore-example-tor,1.0.1,benign,the owner published from a Tor exit on "
        "purpose,alice,2026-03-30,\n"
        + "provscore-example-switch,3.1.1,malicious,account takeover confirmed,bob,2026-03-30,\n"
        + "provscore-example-no2fa,2.0.0,benign,old review,carol,2025-01-01,2025-06-30\n"
        + "type-is,1.6.18,benign,never flagged,dave,2026-03-30,\n"
        + "ua-parser-js,0.7.29,benign,a benign review cannot hide malware,erin,2026-03-30,\n"
        + "not-in-lockfile,1.0.0,benign,unused,frank,2026-03-30,\n",
        encoding="utf-8",
    )
    before = {p.package.spec: p for p in run_report(ReportOptions(lock, now=NOW)).packages}
    report = run_report(ReportOptions(lock, now=NOW, reviews=reviews))
    by = {p.package.spec: p for p in report.packages}

    tor = by["provscore-example-tor@1.0.1"]
    assert before["provscore-example-tor@1.0.1"].level is Level.WARNING
    assert tor.level is Level.NONE and tor.reviewed is not None
    assert tor.reviewed.reviewer == "alice" and tor.score == before[tor.package.spec].score

    switch = by["provscore-example-switch@3.1.1"]
    assert before[switch.package.spec].level is Level.NONE
    # A malicious verdict takes the level of a maximal score under the risk policy (warn).
    assert switch.level is Level.WARNING and switch.reviewed is not None

    # Expired: applies to nothing, the flag stays; reported.
    assert by["provscore-example-no2fa@2.0.0"].level is Level.WARNING
    assert by["provscore-example-no2fa@2.0.0"].reviewed is None
    assert [r.spec for r in report.expired_reviews] == ["provscore-example-no2fa@2.0.0"]

    # The review silences the publication-risk flag (score 47) only: the malicious advisory
    # hit keeps its level, whatever the team said about how the version was published.
    ua = by["ua-parser-js@0.7.29"]
    assert before[ua.package.spec].level is Level.ERROR and ua.reviewed is not None
    assert ua.malicious and ua.level is Level.ERROR
    assert {r.spec for r in report.unused_reviews} == {"type-is@1.6.18", "not-in-lockfile@1.0.0"}
    assert report.exit_code == 1  # the malicious hits under the default policy error

    doc = risk_report_json(report)
    entry = next(p for p in doc["packages"] if p["name"] == "provscore-example-tor")
    assert entry["reviewed"]["verdict"] == "benign" and entry["level"] == "none"
    assert doc["counts"]["reviewed"] == 3
    assert [r["package"] for r in doc["expired_reviews"]] == ["provscore-example-no2fa@2.0.0"]
    json.dumps(doc)
    text = risk_text(doc)
    assert "reviewed benign by alice on 2026-03-30" in text
    assert "warning: expired benign review of provscore-example-no2fa@2.0.0" in text
    assert "warning: unused benign review of not-in-lockfile@1.0.0" in text
    assert ", 3 reviewed" in text


def test_reviews_from_config_and_bad_file_is_exit_2(tmp_path: Path) -> None:
    lock = _example(tmp_path)
    config = lock.parent / "provscore.toml"
    config.write_text(config.read_text(encoding="utf-8") + 'reviews = "reviews.csv"\n')
    (lock.parent / "reviews.csv").write_text(
        HEADER + "provscore-example-tor,1.0.1,benign,ok,alice,2026-03-30,\n", encoding="utf-8"
    )
    report = run_report(ReportOptions(lock, now=NOW))
    assert {p.package.spec for p in report.packages if p.reviewed} == {
        "provscore-example-tor@1.0.1"
    }
    (lock.parent / "reviews.csv").write_text("name\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"reviews\.csv: header must be"):
        run_report(ReportOptions(lock, now=NOW))
