"""npm SemVer precedence and OSV range evaluation, checked by hand-picked cases and, with
hypothesis, against an independent implementation: npm's own `semver` package run by node."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from functools import cmp_to_key

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from osv_fixtures import NodeSemver, npm_semver_module

from scorer.osv.versions import (
    MIN_KEY,
    VersionRange,
    canonical_version,
    compare_versions,
    parse_version,
    range_from_osv,
)


@pytest.fixture(scope="session")
def node_semver() -> Iterator[NodeSemver]:
    module = npm_semver_module()
    if module is None:
        pytest.skip("node with npm's bundled semver package is needed as the test oracle")
    oracle = NodeSemver(module)
    oracle.compare("1.0.0", "1.0.0")  # wait for node to start outside any timed example
    yield oracle
    oracle.close()


# --- precedence ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ordered",
    [
        # The SemVer 2.0 section 11 example chain.
        [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ],
        ["0.0.0-0", "0.0.0", "0.0.1", "0.1.0", "1.0.0", "1.2.3", "1.10.0", "10.0.0"],
        ["1.0.0-2", "1.0.0-10", "1.0.0-a", "1.0.0-a.0"],
    ],
)
def test_precedence_chains(ordered: list[str]) -> None:
    for low, high in itertools.pairwise(ordered):
        assert compare_versions(low, high) == -1
        assert compare_versions(high, low) == 1


def test_build_metadata_is_ignored_for_precedence() -> None:
    assert compare_versions("1.0.0+build.1", "1.0.0+other") == 0
    assert compare_versions("1.0.0-rc.1+b", "1.0.0-rc.1") == 0


@pytest.mark.parametrize("text", ["v1.2.3", "=1.2.3", " 1.2.3 ", "=v1.2.3"])
def test_prefixes_and_blanks_are_tolerated(text: str) -> None:
    assert parse_version(text) == parse_version("1.2.3")
    assert canonical_version(text) == "1.2.3"


@pytest.mark.parametrize(
    "text", ["", "1", "1.2", "1.2.3.4", "01.2.3", "1.2.3-01", "1.2.3-", "1.2.3+", "latest", "x.y.z"]
)
def test_invalid_versions(text: str) -> None:
    assert parse_version(text) is None
    with pytest.raises(ValueError):
        compare_versions(text, "1.0.0")


NUMBERS = st.integers(min_value=0, max_value=4)
PRE_IDS = st.sampled_from(["0", "1", "2", "10", "alpha", "beta", "rc", "a1", "x-y"])
BUILD = st.sampled_from(["", "+b1", "+001", "+sha.5114f85"])


@st.composite
def versions(draw: st.DrawFn) -> str:
    core = f"{draw(NUMBERS)}.{draw(NUMBERS)}.{draw(NUMBERS)}"
    pre = draw(st.lists(PRE_IDS, max_size=3))
    return core + (f"-{'.'.join(pre)}" if pre else "") + draw(BUILD)


@settings(deadline=None)  # each example is a round trip to the node process
@given(versions(), versions())
def test_precedence_agrees_with_npm_semver(node_semver: NodeSemver, a: str, b: str) -> None:
    assert compare_versions(a, b) == node_semver.compare(a, b)


# --- ranges -------------------------------------------------------------------------------


def in_range(version: str, events: list[dict[str, str]], kind: str = "SEMVER") -> bool:
    compiled = range_from_osv({"type": kind, "events": events})
    assert compiled is not None
    key = parse_version(version)
    assert key is not None
    return compiled.contains(key)


@pytest.mark.parametrize(
    ("events", "affected", "clean"),
    [
        ([{"introduced": "0"}], ["0.0.0-0", "0.0.1", "99.0.0"], []),
        ([{"introduced": "0"}, {"fixed": "1.0.2"}], ["0.0.1", "1.0.1", "1.0.2-rc.1"], ["1.0.2"]),
        (
            [{"introduced": "1.0.0"}, {"fixed": "1.0.2"}],
            ["1.0.0", "1.0.1"],
            ["0.9.9", "1.0.0-rc.1"],
        ),
        (
            [{"introduced": "1.1.5"}, {"last_affected": "1.1.7"}],
            ["1.1.5", "1.1.6", "1.1.7", "1.1.7+build"],
            ["1.1.4", "1.1.8-0", "1.1.8"],
        ),
        (
            [
                {"introduced": "1.0.0"},
                {"fixed": "1.0.2"},
                {"introduced": "3.0.0"},
                {"fixed": "3.2.5"},
            ],
            ["1.0.1", "3.0.0", "3.2.4"],
            ["0.1.0", "1.0.2", "2.9.9", "3.2.5", "4.0.0"],
        ),
        # Events listed out of order are sorted before the walk.
        ([{"fixed": "2.0.0"}, {"introduced": "1.0.0"}], ["1.5.0"], ["0.5.0", "2.0.0"]),
        # Real GHSA shape: introduced above fixed means "from introduced on".
        ([{"introduced": "1.0.6"}, {"fixed": "1.0.5"}], ["1.0.6", "2.0.0"], ["1.0.4", "1.0.5"]),
        # limit caps the range; "*" is infinity; any one limit above the version lets it in.
        ([{"introduced": "0"}, {"limit": "2.0.0"}], ["1.9.9", "2.0.0-rc.1"], ["2.0.0", "3.0.0"]),
        ([{"introduced": "1.0.0"}, {"limit": "*"}], ["1.0.0", "9.0.0"], ["0.9.0"]),
        ([{"introduced": "0"}, {"limit": "1.0.0"}, {"limit": "3.0.0"}], ["2.0.0"], ["3.0.0"]),
        # Empty or unreadable upper bounds are dropped (real GHSA records carry fixed: "").
        ([{"introduced": "0"}, {"fixed": ""}], ["0.0.1", "5.0.0"], []),
        ([{"introduced": "garbage"}, {"fixed": "1.0.0"}], ["0.1.0"], ["1.0.0"]),
    ],
)
def test_range_events(events: list[dict[str, str]], affected: list[str], clean: list[str]) -> None:
    for version in affected:
        assert in_range(version, events), version
        assert in_range(version, events, "ECOSYSTEM"), version
    for version in clean:
        assert not in_range(version, events), version


def test_git_and_unknown_ranges_are_ignored() -> None:
    assert range_from_osv({"type": "GIT", "repo": "x", "events": [{"introduced": "0"}]}) is None
    assert range_from_osv({"type": "WEIRD", "events": [{"introduced": "0"}]}) is None


def test_covers_all() -> None:
    assert VersionRange.from_osv([{"introduced": "0"}]).covers_all
    assert not VersionRange.from_osv([{"introduced": "0"}, {"fixed": "1.0.0"}]).covers_all
    assert not VersionRange.from_osv([{"introduced": "1.0.0"}]).covers_all
    assert VersionRange.from_osv([{"introduced": "x"}]).events[0][1] == MIN_KEY


@st.composite
def ranges(draw: st.DrawFn) -> tuple[list[dict[str, str]], str]:
    """Well-formed OSV events (alternating introduced/fixed, maybe closed by last_affected) and
    the same set written as an npm range expression."""
    # Bounds without build metadata, strictly increasing (our comparison orders the bounds;
    # the oracle then judges the versions against them).
    drawn = {v.partition("+")[0] for v in draw(st.lists(versions(), min_size=1, max_size=6))}
    strict = sorted(drawn, key=cmp_to_key(compare_versions))
    start_at_zero = draw(st.booleans())
    last_affected = draw(st.booleans())
    events: list[dict[str, str]] = []
    clauses: list[str] = []
    values = (["0"] if start_at_zero else []) + strict
    for i in range(0, len(values), 2):
        low = values[i]
        low_expr = ">=0.0.0-0" if low == "0" else f">={low}"
        events.append({"introduced": low})
        if i + 1 < len(values):
            high = values[i + 1]
            if last_affected and i + 2 >= len(values):
                events.append({"last_affected": high})
                clauses.append(f"{low_expr} <={high}")
            else:
                events.append({"fixed": high})
                clauses.append(f"{low_expr} <{high}")
        else:
            clauses.append(low_expr)
    return events, " || ".join(clauses)


@settings(max_examples=300, deadline=None)
@given(ranges(), versions(), st.randoms(use_true_random=False))
def test_ranges_agree_with_npm_semver(
    node_semver: NodeSemver,
    spec: tuple[list[dict[str, str]], str],
    version: str,
    rnd: random.Random,
) -> None:
    events, expression = spec
    expected = node_semver.satisfies(version, expression)
    assert in_range(version, events) == expected
    shuffled = list(events)
    rnd.shuffle(shuffled)  # the schema sorts events, so their listed order must not matter
    assert in_range(version, shuffled) == expected


@given(ranges(), versions(), versions())
def test_limit_caps_the_range(
    spec: tuple[list[dict[str, str]], str], version: str, limit: str
) -> None:
    events, _ = spec
    capped = in_range(version, [*events, {"limit": limit}])
    assert capped == (in_range(version, events) and compare_versions(version, limit) < 0)
