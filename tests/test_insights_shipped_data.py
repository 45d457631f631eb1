"""The publication records shipped in data/insights load, and describe what they claim to."""

from __future__ import annotations

from pathlib import Path

from scorer.insights.data import load_records
from scorer.lockfiles import read_lockfile

DATA = Path(__file__).resolve().parents[1] / "data"


def test_every_shipped_file_loads() -> None:
    files = sorted((DATA / "insights").glob("*.json")) + sorted((DATA / "insights").glob("*.csv"))
    assert len(files) >= 4
    for path in files:
        assert load_records(path), path


def test_example_lockfile_records_are_packages_of_the_example() -> None:
    locked = {p.key for p in read_lockfile(DATA / "examples/npm-app/package-lock.json").packages}
    records = load_records(DATA / "insights" / "example-lockfile.json")
    assert records and set(records) <= locked
    for record in records.values():
        assert record.username and record.created
        assert record.tor is None and record.tfa is None  # not in registry documents: unknown


def test_published_pg_example() -> None:
    (record,) = load_records(DATA / "insights" / "examples.json").values()
    assert (record.username, record.tor, record.tfa) == ("brianc", False, True)
