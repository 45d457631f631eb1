"""The README documents what the code does: its feature table and configuration keys are checked
against the code's own tables, so neither can drift from the other."""

from __future__ import annotations

import tomllib
from pathlib import Path

from scorer.config import KEYS
from scorer.features import FEATURES
from scorer.scoring import DEFAULT_WEIGHTS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_feature_table_matches_the_code() -> None:
    weights = tomllib.loads(DEFAULT_WEIGHTS.read_text(encoding="utf-8"))["features"]
    for f in FEATURES:
        row = (
            f"| `{f.name}` | {f.meaning} | {f.source} | {weights[f.name]['weight']} "
            f"| {f.unknown_when} |"
        )
        assert row in README, f"README feature row out of date: {row}"


def test_every_config_key_is_documented() -> None:
    for key in KEYS:
        assert f"`{key}`" in README, key


def test_first_command_reports_on_the_shipped_example() -> None:
    first = README.split("```sh\n", 1)[1].splitlines()[0]
    assert first.endswith("provscore report data/examples/npm-app/package-lock.json")
    assert (
        Path(__file__)
        .resolve()
        .parents[1]
        .joinpath("data/examples/npm-app/package-lock.json")
        .is_file()
    )
