"""The trained scorer: its training data, `train`, the model files, scoring, the shipped model.

The training data's malicious rows are CONSTRUCTED histories around the facts of
../shared/data/npm-incidents.md (only the stated features known); its benign rows are the real
packuments. The shipped example is data/examples/npm-app.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from scorer.errors import InputError
from scorer.features import FEATURE_NAMES, FeatureRow, feature_frame, package_history
from scorer.model import (
    TRUSTED_TREE_TYPES,
    LinearModel,
    TreeModel,
    linear_points,
    load_model,
    save_tree,
    shapley_points,
)
from scorer.records import Level
from scorer.risk import ReportOptions, run_report
from scorer.scoring import DEFAULT_MODEL, TrainedScorer, load_scorer
from scorer.training import parse_rows, read_rows, rows_csv, training_row

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "training"
ROWS = DATA / "rows.csv"
EXAMPLE = ROOT / "data" / "examples" / "npm-app"
NOW = datetime(2026, 4, 1, tzinfo=UTC)
NAN = math.nan


def row(values: dict[str, float]) -> FeatureRow:
    full = {f: values.get(f, NAN) for f in FEATURE_NAMES}
    return FeatureRow("pkg", "1.0.0", full, {}, {}, {})


# -- training data -------------------------------------------------------------------------------


def test_training_data_is_up_to_date_and_hashed(shared_data_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(DATA / "build_training.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PROVSCORE_SHARED_DATA": str(shared_data_dir)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = json.loads((DATA / "MANIFEST.json").read_text(encoding="utf-8"))
    assert manifest["sha256"] == hashlib.sha256(ROWS.read_bytes()).hexdigest()


def test_training_rows_are_honest() -> None:
    rows = read_rows(ROWS)
    origins = {(r.origin, r.label) for r in rows}
    assert origins == {("constructed", 1), ("real", 0)}
    positives = [r for r in rows if r.label == 1]
    assert len(positives) >= 70
    for r in positives:
        # No source gives Tor or 2FA facts for these publishes: unknown, never guessed.
        assert math.isnan(r.values["tor"]) and math.isnan(r.values["no_2fa"]), r
        assert "npm-incidents.md section" in r.source and "constructed" in r.source
    for r in rows:
        if r.label == 0:
            assert r.source.startswith("real: ../shared/data/packuments/")
    # The benign versions and the positives never share a (name, version).
    assert not {(r.name, r.version) for r in positives} & {
        (r.name, r.version) for r in rows if r.label == 0
    }
    # A round trip through the CSV keeps every row.
    again = parse_rows(ROWS, rows_csv(rows))
    assert [(r.name, r.version, r.label) for r in again] == [
        (r.name, r.version, r.label) for r in parse_rows(ROWS, ROWS.read_text(encoding="utf-8"))
    ]


def test_training_row_checks_documented_facts_and_blanks_the_rest() -> None:
    doc = {
        "name": "p",
        "time": {
            "created": "2020-01-01T00:00:00Z",
            "1.0.0": "2020-01-01T00:00:00Z",
            "1.1.0": "2020-02-01T00:00:00Z",
        },
        "versions": {
            "1.0.0": {"_npmUser": {"name": "a"}, "maintainers": [{"name": "a"}]},
            "1.1.0": {"_npmUser": {"name": "b"}, "maintainers": [{"name": "a"}]},
        },
    }
    history = package_history(doc)
    now = datetime(2020, 3, 1, tzinfo=UTC)
    r = training_row(
        "p",
        "1.1.0",
        label=1,
        origin="constructed",
        source="test",
        history=history,
        now=now,
        documented={"publisher_changed": 1},
    )
    assert r.values["publisher_changed"] == 1.0
    assert all(math.isnan(v) for f, v in r.values.items() if f != "publisher_changed")
    with pytest.raises(ValueError, match="the sources say 0"):
        training_row(
            "p",
            "1.1.0",
            label=1,
            origin="constructed",
            source="test",
            history=history,
            now=now,
            documented={"publisher_changed": 0},
        )


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda t: t.replace("name,version", "nom,version", 1), "header must be"),
        (lambda t: t.replace(",1,constructed,", ",2,constructed,", 1), "label must be 0 or 1"),
        (lambda t: t.replace(",constructed,", ",made-up,", 1), "origin must be one of"),
    ],
)
def test_training_data_errors(mutate: object, problem: str) -> None:
    text = ROWS.read_text(encoding="utf-8")
    with pytest.raises(InputError, match=problem):
        parse_rows(ROWS, mutate(text))  # type: ignore[operator]


# -- model files ---------------------------------------------------------------------------------


def shipped() -> LinearModel:
    model, _ = load_model(DEFAULT_MODEL)
    assert isinstance(model, LinearModel)
    return model


def test_linear_points_add_up_and_unknown_adds_nothing() -> None:
    model = shipped()
    matrix = feature_frame(
        [
            row({}),
            row(dict.fromkeys(FEATURE_NAMES, 0.0)),
            row({"install_script_added": 1.0}),
            row({"install_script_added": 1.0, "tor": 1.0, "young_release": 1.0}),
            row({"tor": 1.0}),
        ]
    ).to_numpy()
    points = linear_points(model, matrix)
    assert math.isnan(points.score[0]) and points.score[1] == 0.0
    for i in range(1, 5):
        assert math.isclose(points.points[i].sum(), points.score[i], abs_tol=1e-9)
        assert (points.points[i] >= 0).all()
    assert points.confidence[1] == 1.0
    # Every Tor publish is flagged (fixed at weights.toml's 60 points), whatever else is unknown.
    assert math.isclose(points.score[4], 60.0, abs_tol=1e-6)
    assert points.score[3] > points.score[2] > 40


def test_trained_scorer_fits_the_protocol() -> None:
    scorer = load_scorer("trained")
    assert isinstance(scorer, TrainedScorer)
    assert (scorer.kind, scorer.name) == ("trained", "provscore-trained.json")
    assert scorer.sha256 == hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest()
    out = scorer.score(
        feature_frame([row({"provenance_lost": 1.0, "trusted_publishing_lost": 1.0}), row({})])
    )
    assert out[1].score is None and out[1].contributions == ()
    s = out[0]
    assert s.score is not None and 0 < s.score <= 100
    assert math.isclose(sum(p for _, p in s.contributions), s.score)
    assert [f for f, _ in s.contributions] == ["provenance_lost", "trusted_publishing_lost"]
    assert 0 < s.confidence < 1


def test_model_file_checks(tmp_path: Path) -> None:
    doc = json.loads(DEFAULT_MODEL.read_text(encoding="utf-8"))

    def write(changed: dict[str, object]) -> Path:
        path = tmp_path / "m.json"
        path.write_text(json.dumps({**doc, **changed}), encoding="utf-8")
        return path

    cases = [
        ({"format_version": 2}, "model format version 2; this provscore reads version 1"),
        (
            {"features": list(FEATURE_NAMES[:-1])},
            "feature list differs from this provscore's (missing dormant_before)",
        ),
        (
            {"features": [*FEATURE_NAMES, "stars"]},
            "feature list differs from this provscore's (unknown stars)",
        ),
        ({"features": list(reversed(FEATURE_NAMES))}, "order differs"),
        ({"format": "pickle"}, "not a provscore model file"),
        ({"coefficients": [-1.0] * len(FEATURE_NAMES)}, "coefficient of tor is negative"),
        ({"intercept": "x"}, "intercept must be 1 finite numbers"),
    ]
    for changed, problem in cases:
        with pytest.raises(InputError, match=r"m\.json") as exc:
            load_scorer("trained", model=write(changed))
        assert problem in str(exc.value), (changed, str(exc.value))
        assert exc.value.exit_code == 2
    # The CLI says it in one line and exits 2.
    path = write({"features": list(FEATURE_NAMES[:-1])})
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scorer",
            "report",
            str(EXAMPLE / "package-lock.json"),
            "--scorer",
            "trained",
            "--model",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "missing dormant_before" in done.stderr and "Traceback" not in done.stderr


def test_report_with_the_linear_model_imports_no_scikit_learn() -> None:
    code = (
        "import sys; from pathlib import Path; from datetime import datetime, UTC\n"
        "from scorer.risk import ReportOptions, run_report\n"
        f"r = run_report(ReportOptions(Path({str(EXAMPLE / 'package-lock.json')!r}),"
        " scorer='trained', now=datetime(2026, 4, 1, tzinfo=UTC)))\n"
        "assert r.scorer.kind == 'trained'\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('sklearn', 'skops', 'scipy', 'joblib')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "[]"


def test_weighted_and_trained_agree_on_the_example_top() -> None:
    lock = EXAMPLE / "package-lock.json"
    weighted = run_report(ReportOptions(lock, now=NOW)).packages
    trained = run_report(ReportOptions(lock, now=NOW, scorer="trained")).packages

    def top(packages: tuple[object, ...]) -> list[str]:
        # What the example puts on top: the malicious hits, then every flagged version.
        return [p.package.spec for p in packages if p.level is not Level.NONE]  # type: ignore[attr-defined]

    assert top(weighted) == top(trained)
    assert top(trained)[5:] == [
        "provscore-example-provenance@2.3.1",
        "provscore-example-tor@1.0.1",
        "provscore-example-no2fa@2.0.0",
    ]
    assert all(p.malicious for p in trained[:5])


def test_shipped_model_is_trained_from_the_committed_data(tmp_path: Path) -> None:
    from scorer.train import run_train

    card = json.loads((ROOT / "models" / "provscore-trained.card.json").read_text())
    manifest = json.loads((DATA / "MANIFEST.json").read_text(encoding="utf-8"))
    assert card["data"]["sha256"] == manifest["sha256"]
    assert card["sha256"] == hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest()
    # Cross-validation does not change the fit: two folds, one repeat, same model.
    run_train(ROWS, out=tmp_path / "again", folds=2, repeats=1, echo=lambda _: None)
    again, _ = load_model(tmp_path / "again.json")
    model = shipped()
    assert isinstance(again, LinearModel)
    assert [r.role for r in again.roles] == [r.role for r in model.roles]
    # lbfgs stops at tol 1e-4, so another scikit-learn or BLAS may differ in the last digits.
    assert np.allclose(again.effects(), model.effects(), rtol=1e-3, atol=1e-3)
    assert math.isclose(again.intercept, model.intercept, rel_tol=1e-3)
    # The card states what it must not be used for, and the metrics with their spread.
    assert any("safe" in item for item in card["must_not_be_used_for"])
    for metrics in card["cross_validation"]["models"].values():
        for value in metrics.values():
            assert {"mean", "std", "min", "max", "folds"} <= set(value)
            assert value["folds"] == 50


# -- train, tree models, reviews round trip -------------------------------------------------------


def test_train_writes_deterministic_models_and_a_loadable_tree(tmp_path: Path) -> None:
    from scorer.train import run_train

    for name in ("a", "b"):
        run_train(
            ROWS, out=tmp_path / name, folds=3, repeats=1, save_tree_model=True, echo=lambda _: None
        )
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    card = json.loads((tmp_path / "a.card.json").read_text())
    assert card["compared_with"]["file"] == "a.skops"
    assert "## Must not be used for" in (tmp_path / "a.card.md").read_text()
    tree, _ = load_model(tmp_path / "a.skops")
    assert isinstance(tree, TreeModel)
    values = feature_frame(
        [row({"install_script_added": 1.0, "young_release": 1.0, "tor": 0.0}), row({})]
    ).to_numpy()
    points = shapley_points(tree.logits, values)
    assert math.isclose(points.points[0].sum(), points.score[0], abs_tol=1e-9)
    assert (points.points >= 0).all() and math.isnan(points.score[1])
    scored = TrainedScorer(tree, "a.skops", "x").score(feature_frame([row({"tor": 1.0})]))
    assert math.isclose(scored[0].score or 0, 60.0, abs_tol=1e-6)


def test_tree_file_with_untrusted_types_is_refused(tmp_path: Path) -> None:
    import functools

    import skops.io as sio

    path = tmp_path / "evil.skops"
    # A callable stored in the file: loading it would let the file decide what code runs.
    sio.dump({"format": "provscore-model", "hook": functools.partial(print, "pwned")}, path)
    with pytest.raises(InputError, match=r"refused: the file holds untrusted type\(s\) builtins"):
        load_model(path)
    assert "functools.partial" not in TRUSTED_TREE_TYPES
    (tmp_path / "broken.skops").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable skops file"):
        load_model(tmp_path / "broken.skops")


def test_tree_model_round_trip_keeps_header_checks(tmp_path: Path) -> None:
    from scorer.train import fit_models

    rows = read_rows(ROWS)
    from scorer.scoring import WeightedScorer

    training = {"data": {}, "weights": {}, "library_versions": {}}
    _, tree = fit_models(rows, load_scorer("weighted"), training)  # type: ignore[arg-type]
    assert isinstance(load_scorer("weighted"), WeightedScorer)
    path = tmp_path / "t.skops"
    save_tree(replace(tree, kind="not-a-tree"), path)
    with pytest.raises(InputError, match="model kind 'not-a-tree'"):
        load_model(path)


def test_round_trip_report_review_retrain_report(tmp_path: Path) -> None:
    """End to end through the CLI: report, review, report again, retrain with the review,
    report with the new model."""
    app = tmp_path / "npm-app"
    shutil.copytree(EXAMPLE, app)
    lock = app / "package-lock.json"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "scorer", *args],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )

    now = "2026-04-01T00:00:00Z"
    first = json.loads(cli("report", str(lock), "--format", "json", "--now", now).stdout)
    flagged = [p for p in first["packages"] if p["level"] == "warning" and not p["malicious"]]
    assert [p["name"] for p in flagged] == [
        "provscore-example-provenance",
        "provscore-example-tor",
        "provscore-example-no2fa",
    ]
    reviews = tmp_path / "reviews.csv"
    reviews.write_text(
        "name,version,verdict,reason,reviewer,date\n"
        "provscore-example-tor,1.0.1,benign,owner publishes from Tor on purpose,alice,2026-03-31\n"
        "provscore-example-switch,3.1.1,malicious,takeover confirmed,bob,2026-03-31\n",
        encoding="utf-8",
    )
    second = json.loads(
        cli("report", str(lock), "--format", "json", "--now", now, "--reviews", str(reviews)).stdout
    )
    tor = next(p for p in second["packages"] if p["name"] == "provscore-example-tor")
    assert tor["level"] == "none" and tor["reviewed"]["reviewer"] == "alice"

    model = tmp_path / "team"
    done = cli(
        "train",
        "--data",
        str(ROWS),
        "--reviews",
        str(reviews),
        "--snapshot",
        str(app / "snapshot"),
        "--out",
        str(model),
        "--folds",
        "3",
        "--repeats",
        "1",
    )
    assert done.returncode == 0, done.stderr
    card = json.loads((tmp_path / "team.card.json").read_text())
    assert card["reviews"]["rows"] == 2 and card["reviews"]["malicious"] == 1
    assert card["data"]["by_origin_and_label"]["review label=1"] == 1
    # The malicious review's features came from the snapshot, as the report saw them.
    third = json.loads(
        cli(
            "report",
            str(lock),
            "--format",
            "json",
            "--now",
            now,
            "--scorer",
            "trained",
            "--model",
            str(tmp_path / "team.json"),
            "--reviews",
            str(reviews),
        ).stdout
    )
    assert third["scorer"]["name"] == "team.json"
    switch = next(p for p in third["packages"] if p["name"] == "provscore-example-switch")
    # Learned from the team's verdict: the publisher switch now scores above the shipped model.
    shipped_switch = next(
        p
        for p in json.loads(
            cli("report", str(lock), "--format", "json", "--now", now, "--scorer", "trained").stdout
        )["packages"]
        if p["name"] == "provscore-example-switch"
    )
    assert switch["score"] > shipped_switch["score"]
    assert switch["reviewed"]["verdict"] == "malicious" and switch["level"] == "warning"
    # --reviews needs the snapshot or cache the versions were reviewed against.
    missing = cli("train", "--data", str(ROWS), "--reviews", str(reviews), "--out", str(model))
    assert missing.returncode == 2 and "--snapshot" in missing.stderr
