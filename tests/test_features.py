"""The feature table on real packuments and on CONSTRUCTED histories (see risk_fixtures)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from insights_fixtures import real
from risk_fixtures import LATE, Release, constructed, real_documents

from scorer.features import (
    FEATURE_NAMES,
    FEATURES,
    NO_HISTORY,
    FeatureRow,
    FeatureSettings,
    PackageHistory,
    feature_frame,
    feature_row,
    package_history,
    parse_time,
)
from scorer.insights.client import InsightsAnswer, unknown_answer

SETTINGS = FeatureSettings()
PUBLISHER_FEATURES = ("publisher_changed", "new_publisher", "publisher_not_maintainer")


def row(
    doc: dict[str, Any] | None,
    version: str,
    answer: InsightsAnswer | None = None,
    now: datetime = LATE,
    settings: FeatureSettings = SETTINGS,
) -> FeatureRow:
    history = package_history(doc) if doc is not None else None
    name = doc["name"] if doc is not None else "pkg"
    missing = None if doc is not None else "registry unreachable (constructed)"
    return feature_row(
        name, version, history, missing, answer, "no insights endpoint", now=now, settings=settings
    )


def fired(r: FeatureRow) -> set[str]:
    return {f for f, v in r.values.items() if v == 1.0}


def check_invariants(r: FeatureRow) -> None:
    assert tuple(r.values) == FEATURE_NAMES
    for f, v in r.values.items():
        assert (f in r.unknown) == math.isnan(v), (r.name, r.version, f)
        assert math.isnan(v) or v in (0.0, 1.0)
    assert set(r.details) <= fired(r)


def test_feature_table_is_complete() -> None:
    assert len(set(FEATURE_NAMES)) == len(FEATURES) == 13
    for f in FEATURES:
        assert f.meaning and f.source and f.unit and f.unknown_when


# -- real packuments -----------------------------------------------------------------------------


def test_real_fixture_has_package_exports() -> None:
    doc = real("has-package-exports")
    r = row(doc, "1.3.0")
    check_invariants(r)
    assert r.facts["publisher"] == ("ljharb", "registry")
    assert r.facts["published_at"] == ("2022-04-07T13:21:32.639Z", "registry")
    assert r.values["young_release"] == 0.0 and r.values["new_package"] == 0.0
    assert r.values["publisher_changed"] == 0.0 and r.values["new_publisher"] == 0.0
    assert r.values["provenance_lost"] == 0.0 and r.values["install_script_added"] == 0.0
    assert math.isnan(r.values["tor"]) and r.unknown["tor"] == "no insights endpoint"
    first = row(doc, "1.0.0")
    check_invariants(first)
    assert first.unknown["publisher_changed"] == NO_HISTORY
    assert first.values["new_package"] == 1.0  # the very first version still knows this


def test_every_real_version_has_a_complete_row_and_history_round_trips() -> None:
    count = 0
    for path, doc in real_documents():
        history = package_history(doc)
        again = PackageHistory.from_json(json.loads(json.dumps(history.to_json())))
        assert again == history, path
        for version in doc["versions"]:
            r = feature_row(
                history.name, version, history, None, None, "none", now=LATE, settings=SETTINGS
            )
            check_invariants(r)
            count += 1
    assert count > 9000


def test_real_install_script_added_early_in_events_is_not_counted() -> None:
    # events 0.2.0 added an install script after only two releases: a young package adding its
    # build step, not a takeover of an established one (settings.mature_releases).
    doc = real("events")
    history = package_history(doc)
    scripted = [v for v in history.order if history.records[v].has_install_script]
    assert scripted and scripted[0] == "0.2.0"
    r = row(doc, "0.2.0")
    assert r.values["install_script_added"] == 0.0
    assert r.facts["previous_established_version"] == ("0.1.1", "registry")
    with_track_record = row(doc, "0.2.0", settings=replace(SETTINGS, mature_releases=2))
    assert with_track_record.values["install_script_added"] == 1.0
    assert "install script added (install)" in with_track_record.details["install_script_added"]


def test_abbreviated_real_document_is_unknown_for_publishers() -> None:
    doc = real("fsevents-min")
    version = sorted(doc["versions"])[-1]
    r = feature_row(
        "fsevents", version, package_history(doc), None, None, "x", now=LATE, settings=SETTINGS
    )
    check_invariants(r)
    for f in PUBLISHER_FEATURES:
        assert "strip" in r.unknown[f]


# -- constructed histories -----------------------------------------------------------------------

A, M = "alice-example", "mallory-example"


def test_burst_second_version_compares_with_established_release() -> None:
    post = {"postinstall": "node x.js"}
    doc = constructed(
        "burst",
        "CONSTRUCTED: two bad versions five minutes apart after a normal one",
        [
            Release("0.9.0", "2023-01-01T00:00:00Z", A, [A]),
            Release("0.9.1", "2023-06-01T00:00:00Z", A, [A]),
            Release("1.0.0", "2024-01-01T00:00:00Z", A, [A]),
            Release("1.0.1", "2024-06-01T10:00:00Z", M, [A, M], scripts=post),
            Release("1.0.2", "2024-06-01T10:05:00Z", M, [A, M], scripts=post),
        ],
    )
    for version in ("1.0.1", "1.0.2"):
        r = row(doc, version)
        check_invariants(r)
        assert r.facts["previous_established_version"] == ("1.0.0", "registry")
        assert fired(r) >= {*PUBLISHER_FEATURES, "maintainers_changed", "install_script_added"}
        assert r.details["publisher_changed"] == (f"publisher changed from {A} on 1.0.0 to {M}")
        assert (
            r.details["install_script_added"]
            == "install script added (postinstall); 1.0.0 had none"
        )


def test_burst_at_the_start_has_no_history_but_knows_new_package() -> None:
    doc = constructed(
        "young",
        "CONSTRUCTED: first two versions an hour apart",
        [
            Release("0.1.0", "2024-06-01T10:00:00Z", A, [A]),
            Release("0.1.1", "2024-06-01T11:00:00Z", A, [A], scripts={"preinstall": "x"}),
        ],
    )
    r = row(doc, "0.1.1")
    check_invariants(r)
    for f in (*PUBLISHER_FEATURES, "maintainers_changed", "dormant_before", "install_script_added"):
        assert r.unknown[f] == NO_HISTORY
    assert r.values["new_package"] == 1.0
    # Nothing can have been lost when this version has it / nothing added when it has none.
    assert r.values["provenance_lost"] != 1.0
    assert row(doc, "0.1.0").values["install_script_added"] == 0.0


def test_handover_to_long_time_maintainer() -> None:
    doc = constructed(
        "handover",
        "CONSTRUCTED: bob co-maintains since 1.0.0 and published 1.1.0, then takes over from 1.3.0",
        [
            Release("1.0.0", "2020-01-01T00:00:00Z", A, [A, "bob-example"]),
            Release("1.1.0", "2020-06-01T00:00:00Z", "bob-example", [A, "bob-example"]),
            Release("1.2.0", "2021-01-01T00:00:00Z", A, [A, "bob-example"]),
            Release("1.3.0", "2021-03-01T00:00:00Z", "bob-example", [A, "bob-example"]),
        ],
    )
    r = row(doc, "1.3.0")
    assert r.values["publisher_changed"] == 1.0
    assert r.values["new_publisher"] == 0.0 and r.values["publisher_not_maintainer"] == 0.0
    assert r.values["maintainers_changed"] == 0.0


def test_dormancy_covers_the_whole_burst() -> None:
    doc = constructed(
        "dormant",
        "CONSTRUCTED: three years of silence, then two versions an hour apart",
        [
            Release("1.0.0", "2018-01-01T00:00:00Z", A, [A]),
            Release("1.0.1", "2021-01-01T00:00:00Z", A, [A]),
            Release("1.0.2", "2021-01-01T01:00:00Z", A, [A]),
            Release("1.0.3", "2021-02-01T01:00:00Z", A, [A]),
        ],
    )
    assert row(doc, "1.0.1").values["dormant_before"] == 1.0
    assert row(doc, "1.0.2").values["dormant_before"] == 1.0
    assert "3.0 years" in row(doc, "1.0.2").details["dormant_before"]
    assert row(doc, "1.0.3").values["dormant_before"] == 0.0


def test_trusted_publishing_and_provenance_lost() -> None:
    doc = constructed(
        "safeguards",
        "CONSTRUCTED: 2.0.0 by trusted publishing with provenance, 2.0.1 by a personal token",
        [
            Release("1.0.0", "2024-01-01T00:00:00Z", A, [A]),
            Release("2.0.0", "2024-05-01T00:00:00Z", "GitHub Actions", [A], True, True),
            Release("2.0.1", "2024-06-01T00:00:00Z", A, [A]),
        ],
    )
    r = row(doc, "2.0.1")
    assert (
        r.details["trusted_publishing_lost"] == "trusted publishing used on 2.0.0 but not on 2.0.1"
    )
    assert r.details["provenance_lost"] == "provenance present on 2.0.0 but missing on 2.0.1"
    assert r.values["publisher_changed"] == 1.0 and r.values["new_publisher"] == 0.0
    kept = row(doc, "2.0.0")
    assert kept.values["trusted_publishing_lost"] == 0.0 and kept.values["provenance_lost"] == 0.0


def test_stripped_mirror_leaves_publisher_features_unknown() -> None:
    doc = real("has-package-exports")
    doc.pop("maintainers", None)
    for manifest in doc["versions"].values():
        manifest.pop("_npmUser", None)
        manifest.pop("maintainers", None)
    r = row(doc, "1.3.0")
    check_invariants(r)
    for f in (*PUBLISHER_FEATURES, "trusted_publishing_lost", "provenance_lost"):
        assert math.isnan(r.values[f])
        assert "mirror may strip" in r.unknown[f]
    assert "publisher" not in r.facts
    assert r.values["young_release"] == 0.0  # times survive the mirror


def test_insights_and_registry_publishers_disagree() -> None:
    doc = real("has-package-exports")
    answer = InsightsAnswer("has-package-exports", "1.3.0", "http://127.0.0.1:1/", True, M)
    r = row(doc, "1.3.0", answer)
    for f in PUBLISHER_FEATURES:
        assert r.unknown[f] == f"sources disagree: insights says {M}, registry _npmUser says ljharb"
    agree = row(
        doc, "1.3.0", InsightsAnswer("x", "1.3.0", None, True, "ljharb", tor=False, tfa=True)
    )
    assert agree.facts["publisher"] == ("ljharb", "insights+registry")
    assert agree.values["tor"] == 0.0 and agree.values["no_2fa"] == 0.0


def test_insights_flags_and_their_unknowns() -> None:
    doc = real("has-package-exports")
    tor = row(doc, "1.3.0", InsightsAnswer("x", "1.3.0", None, True, tor=True, tfa=False))
    assert tor.details["tor"] == "published over Tor"
    assert tor.details["no_2fa"] == "no 2FA at publish"
    nothing = row(doc, "1.3.0", unknown_answer("x", "1.3.0", None, "insights timed out"))
    assert nothing.unknown["tor"] == nothing.unknown["no_2fa"] == "insights timed out"


def test_no_registry_document_and_unknown_version() -> None:
    answer = InsightsAnswer("pkg", "1.0.0", None, True, A, "2024-06-01T07:00:00Z", False, True)
    now = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    r = row(None, "1.0.0", answer, now=now)
    check_invariants(r)
    assert r.unknown["provenance_lost"] == "registry unreachable (constructed)"
    assert r.facts["published_at"] == ("2024-06-01T07:00:00Z", "insights")
    assert r.details["young_release"] == "published 3 hours before the scan (cooldown 7 days)"
    gone = row(real("has-package-exports"), "9.9.9")
    assert gone.unknown["new_package"] == "9.9.9 is not in the registry document"


def test_young_release_text_and_cooldown_setting() -> None:
    doc = real("has-package-exports")
    now = datetime(2022, 4, 7, 16, 21, 32, tzinfo=UTC)
    r = row(doc, "1.3.0", now=now)
    assert r.details["young_release"] == "published 3 hours before the scan (cooldown 7 days)"
    assert (
        row(doc, "1.3.0", now=now, settings=FeatureSettings(cooldown_days=0.1)).values[
            "young_release"
        ]
        == 0.0
    )
    with pytest.raises(ValueError, match="timezone"):
        row(doc, "1.3.0", now=datetime(2022, 4, 8))


def test_malformed_times_are_unknown() -> None:
    doc = constructed(
        "times",
        "CONSTRUCTED: garbage and zoneless publish times",
        [
            Release("1.0.0", "2020-01-01T00:00:00Z", A, [A]),
            Release("1.0.1", "yesterday", A, [A]),
            Release("1.0.2", "2021-01-01T00:00:00", A, [A]),
            Release("1.0.3", "2021-06-01T00:00:00.000Z", A, [A]),
        ],
    )
    doc["time"]["created"] = 12345
    for version in ("1.0.1", "1.0.2"):
        r = row(doc, version)
        check_invariants(r)
        assert r.unknown["young_release"] == f"malformed time[{version}]"
        assert r.unknown["publisher_changed"].startswith("publish order unknown")
    good = row(doc, "1.0.3")
    assert good.facts["previous_established_version"] == ("1.0.0", "registry")
    assert good.unknown["new_package"] == "the document has no time.created"
    assert parse_time("2021-01-01T00:00:00+02:00") == parse_time("2020-12-31T22:00:00Z")
    assert parse_time(None) is None and parse_time("9999-99-99") is None


def test_history_json_rejects_damage() -> None:
    good = package_history(real("has-package-exports")).to_json()
    for bad in ({}, {**good, "format": 0}, {**good, "versions": [["1.0.0"]]}, []):
        with pytest.raises(ValueError, match="not a package history"):
            PackageHistory.from_json(bad)


def test_feature_frame_shape() -> None:
    doc = real("has-package-exports")
    rows = [row(doc, v) for v in ("1.0.0", "1.3.0")]
    frame = feature_frame(rows)
    assert list(frame.columns) == list(FEATURE_NAMES)
    assert list(frame.index) == [("has-package-exports", "1.0.0"), ("has-package-exports", "1.3.0")]
    assert all(str(t) == "float64" for t in frame.dtypes)
    assert math.isnan(frame.loc[("has-package-exports", "1.0.0"), "publisher_changed"])
    assert feature_frame([]).shape == (0, len(FEATURE_NAMES))


def test_importing_features_does_not_import_pandas() -> None:
    code = "import sys, scorer.features; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
