"""The Advisory record, the malicious rule, the matcher and incident grouping, on synthetic
records for each rule and on the real OpenSSF and GitHub records of the shared data."""

from __future__ import annotations

import json

import pytest
from osv_fixtures import KNOWN_BAD, KNOWN_CLEAN, ghsa_dir, mal_dir, pkg, real_records, record

from scorer.osv import (
    Advisory,
    AdvisoryIndex,
    RecordError,
    group_advisories,
    incident_ids,
    is_malicious,
    load_database,
    match,
)
from scorer.records import LockedPackage, SourceKind


@pytest.fixture(scope="module")
def real() -> list[Advisory]:
    return load_database(mal_dir()) + load_database(ghsa_dir())


def adv(raw: dict[str, object]) -> Advisory:
    return Advisory.from_osv(raw)


# --- the malicious rule -------------------------------------------------------------------


def test_every_real_ghsa_malware_record_is_malicious() -> None:
    files = sorted(ghsa_dir().rglob("GHSA-*.json"))
    assert len(files) == 20
    for path in files:
        assert is_malicious(json.loads(path.read_text())), path.name


def test_every_real_openssf_record_is_malicious(real: list[Advisory]) -> None:
    assert all(a.malicious for a in real)


@pytest.mark.parametrize(
    "raw",
    [
        {"id": "MAL-2025-1"},
        {"id": "X-1", "database_specific": {"malicious-packages-origins": None}},
        {"id": "GHSA-x", "database_specific": {"cwe_ids": ["CWE-79", "CWE-506"]}},
        {"id": "GHSA-x", "summary": "Malicious Package in foo"},
        {"id": "GHSA-x", "summary": "malicious package in foo"},
        {"id": "GHSA-x", "summary": "Embedded malware in some-pkg"},
        {"id": "GHSA-x", "summary": "EMBEDDED MALICIOUS CODE in some-pkg"},
    ],
)
def test_malicious_rule(raw: dict[str, object]) -> None:
    assert is_malicious(raw)


@pytest.mark.parametrize(
    "raw",
    [
        {"id": "GHSA-x", "summary": "Prototype Pollution in lodash"},
        {"id": "GHSA-x", "database_specific": {"cwe_ids": ["CWE-1321"]}},
        {"id": "CVE-2020-1", "summary": "A package in which malicious input crashes"},
    ],
)
def test_ordinary_vulnerabilities_are_not_malicious(raw: dict[str, object]) -> None:
    assert not is_malicious(raw)


# --- real incidents -----------------------------------------------------------------------


def test_known_bad_versions_match(real: list[Advisory]) -> None:
    packages = [pkg(name, version) for name, version in KNOWN_BAD]
    for (key, expected), found in zip(KNOWN_BAD.items(), match(packages, real), strict=True):
        assert expected in [a.id for a in found], key


def test_nearby_clean_versions_do_not_match(real: list[Advisory]) -> None:
    assert match([pkg(n, v) for n, v in KNOWN_CLEAN], real) == [(), (), ()]


def test_real_range_shapes(real: list[Advisory]) -> None:
    cases = {
        ("@ledgerhq/connect-kit", "1.1.5"): True,  # introduced 1.1.5, last_affected 1.1.7
        ("@ledgerhq/connect-kit", "1.1.7"): True,
        ("@ledgerhq/connect-kit", "1.1.8"): False,
        ("@ledgerhq/connect-kit", "1.1.4"): False,
        ("ua-parser-js", "0.8.0"): True,
        ("ua-parser-js", "0.8.1"): False,
        ("event-stream", "3.3.6"): True,
        ("event-stream", "4.0.0"): False,
        ("erquest", "9.9.9"): True,  # introduced 0, fixed "" (empty bound dropped)
        ("rc", "1.3.9"): True,
        ("rc", "1.2.8"): False,
        ("@ctrl/plex", "6.0.0"): False,  # only a withdrawn record
    }
    packages = [pkg(n, v) for n, v in cases]
    assert [bool(found) for found in match(packages, real)] == list(cases.values())


def test_mal_and_ghsa_of_one_incident_group_together(real: list[Advisory]) -> None:
    ghsa_copy = adv(
        record(
            "GHSA-2v46-p5h4-248w",
            "chalk",
            versions=["5.6.1"],
            summary="x",
            database_specific={"cwe_ids": ["CWE-506"]},
        )
    )
    (found,) = match([pkg("chalk", "5.6.1")], [*real, ghsa_copy])
    assert [a.id for a in found] == ["GHSA-2v46-p5h4-248w", "MAL-2025-46969"]
    (group,) = group_advisories(found)
    assert incident_ids(group) == ("GHSA-2v46-p5h4-248w", "MAL-2025-46969")


# --- matcher rules ------------------------------------------------------------------------


def test_match_keeps_order_and_skips_non_registry_packages() -> None:
    advisories = [adv(record("MAL-1", "a", versions=["1.0.0"]))]
    packages = [
        pkg("b", "1.0.0"),
        pkg("a", "1.0.0", SourceKind.GIT),
        pkg("a", "1.0.0"),
        pkg("a", "1.0.0", SourceKind.FILE),
        pkg("a", "1.0.1"),
    ]
    assert [[a.id for a in f] for f in match(packages, advisories)] == [[], [], ["MAL-1"], [], []]


def test_packages_match_under_their_real_name_not_an_alias() -> None:
    advisories = [adv(record("MAL-1", "evil", versions=["1.0.0"]))]
    aliased = LockedPackage("harmless", "1.0.0", SourceKind.REGISTRY, aliases=("evil",))
    real_name = LockedPackage("evil", "1.0.0", SourceKind.REGISTRY, aliases=("nice",))
    assert match([aliased, real_name], advisories) == [(), (advisories[0],)]


def test_name_is_exact_and_ecosystem_case_insensitive() -> None:
    raw = record("MAL-1", "Left-Pad", versions=["1.0.0"])
    raw["affected"][0]["package"]["ecosystem"] = "NPM"
    other = record("MAL-2", "left-pad", versions=["1.0.0"])
    other["affected"][0]["package"]["ecosystem"] = "PyPI"
    found = match([pkg("Left-Pad", "1.0.0"), pkg("left-pad", "1.0.0")], [adv(raw), adv(other)])
    assert [[a.id for a in f] for f in found] == [["MAL-1"], []]


def test_withdrawn_records_never_match() -> None:
    withdrawn = adv(
        record("MAL-1", "a", events=[{"introduced": "0"}], withdrawn="2025-02-01T00:00:00Z")
    )
    assert withdrawn.is_withdrawn
    assert match([pkg("a", "1.0.0")], [withdrawn]) == [()]
    assert not withdrawn.affects("a", "1.0.0")
    # A `withdrawn` that is not a time does not disarm the record: it is invalid (issue 9).
    with pytest.raises(RecordError, match="not an RFC 3339 time"):
        adv(record("MAL-2", "a", versions=["1.0.0"], withdrawn="not a date"))


def test_entry_without_versions_or_ranges_means_every_version() -> None:
    raw = {"id": "MAL-1", "affected": [{"package": {"ecosystem": "npm", "name": "a"}}]}
    assert (
        match([pkg("a", "0.0.1"), pkg("a", "99.1.0-x"), pkg("a", "not-semver")], [adv(raw)])
        == [(adv(raw),)] * 3
    )


def test_record_without_affected_matches_nothing() -> None:
    assert match([pkg("a", "1.0.0")], [adv({"id": "MAL-1"})]) == [()]
    assert match([pkg("a", "1.0.0")], [adv({"id": "MAL-2", "affected": []})]) == [()]


def test_versions_list_is_exact_but_tolerates_prefixes() -> None:
    advisory = adv(record("MAL-1", "a", versions=["1.0.0", "v2.0.0", "2.0.0+b"]))
    found = match([pkg("a", v) for v in ["1.0.0", "2.0.0", "2.0.0+b", "1.0.0-rc.1"]], [advisory])
    assert [bool(f) for f in found] == [True, True, True, False]


def test_prerelease_and_build_metadata_in_ranges() -> None:
    advisory = adv(record("MAL-1", "a", events=[{"introduced": "1.0.0-rc.1"}, {"fixed": "1.0.0"}]))
    versions = ["1.0.0-beta", "1.0.0-rc.1", "1.0.0-rc.2+build", "1.0.0", "1.0.0+build"]
    found = match([pkg("a", v) for v in versions], [advisory])
    assert [bool(f) for f in found] == [False, True, True, False, False]


def test_unparseable_version_only_matches_unbounded_ranges() -> None:
    bounded = adv(record("MAL-1", "a", events=[{"introduced": "0"}, {"fixed": "2.0.0"}]))
    unbounded = adv(record("MAL-2", "a", events=[{"introduced": "0"}]))
    (found,) = match([pkg("a", "not-a-version")], [bounded, unbounded])
    assert [a.id for a in found] == ["MAL-2"]


def test_git_ranges_are_ignored() -> None:
    raw = record("MAL-1", "a")
    raw["affected"][0]["ranges"] = [{"type": "GIT", "repo": "r", "events": [{"introduced": "0"}]}]
    assert match([pkg("a", "1.0.0")], [adv(raw)]) == [()]


def test_non_malicious_records_are_left_out_unless_asked() -> None:
    cve = adv(record("GHSA-aaaa", "a", versions=["1.0.0"], summary="Prototype Pollution"))
    assert match([pkg("a", "1.0.0")], [cve]) == [()]
    assert match([pkg("a", "1.0.0")], [cve], malicious_only=False) == [(cve,)]
    assert match([pkg("a", "1.0.0")], AdvisoryIndex([cve], malicious_only=False)) == [(cve,)]


def test_grouping_is_transitive_and_stable() -> None:
    a = adv({"id": "MAL-1", "aliases": ["GHSA-1"]})
    b = adv({"id": "GHSA-1", "aliases": ["CVE-1"]})
    c = adv({"id": "MAL-2", "aliases": ["CVE-1"]})
    d = adv({"id": "MAL-3"})
    groups = group_advisories([d, c, b, a, a])
    assert [[x.id for x in g] for g in groups] == [["GHSA-1", "MAL-1", "MAL-2"], ["MAL-3"]]
    assert incident_ids(groups[0]) == ("GHSA-1", "MAL-1", "MAL-2", "CVE-1")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ([], "not a JSON object"),
        ({"summary": "x"}, "no id"),
        ({"id": ""}, "no id"),
        ({"id": "X", "aliases": "GHSA-1"}, "aliases"),
        ({"id": "X", "affected": {"package": {}}}, "affected is not a list"),
        ({"id": "X", "affected": [{"versions": ["1"]}]}, "no package object"),
        ({"id": "X", "affected": [{"package": {"ecosystem": "npm"}}]}, "no package name"),
        (
            {
                "id": "X",
                "affected": [
                    {"package": {"ecosystem": "npm", "name": "a"}, "ranges": [{"type": "SEMVER"}]}
                ],
            },
            "no events",
        ),
        (
            {
                "id": "X",
                "affected": [
                    {
                        "package": {"ecosystem": "npm", "name": "a"},
                        "ranges": [{"type": "SEMVER", "events": [{"fixed": 1}]}],
                    }
                ],
            },
            "not a string",
        ),
    ],
)
def test_malformed_records_are_refused(raw: object, problem: str) -> None:
    with pytest.raises(RecordError, match=problem):
        Advisory.from_osv(raw)


def test_timestamps_and_raw_are_kept() -> None:
    raws = real_records()
    chalk = next(r for r in raws if r["id"] == "MAL-2025-46969")
    advisory = Advisory.from_osv(chalk)
    assert advisory.modified is not None and advisory.modified.isoformat() == (
        "2025-09-12T01:13:34+00:00"
    )
    assert advisory.raw is chalk and advisory.aliases == ("GHSA-2v46-p5h4-248w",)
    nanos = Advisory.from_osv({"id": "X", "modified": "2025-09-09T00:35:48.404674353Z"})
    assert nanos.modified is not None and nanos.modified.microsecond == 404674
