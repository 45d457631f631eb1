"""The policy engine: resolution for both settings, levels, exit codes; and suppressions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from scorer.config import Config
from scorer.errors import ConfigError
from scorer.policy import (
    COMPROMISED,
    RISK,
    Policy,
    ResolvedPolicy,
    exit_code,
    finding_level,
    listed,
    resolve,
    threshold_level,
)
from scorer.records import Level
from scorer.suppressions import Suppression, split_suppressed

CONFIG = Config(
    path=Path("/p/provscore.toml"), values={"compromised_policy": "off", "risk_policy": "error"}
)


def test_each_setting_resolves_option_then_env_then_config_then_default() -> None:
    env = {"PROVSCORE_COMPROMISED_POLICY": "warn", "PROVSCORE_RISK_POLICY": "OFF"}
    assert resolve(COMPROMISED, "error", env, CONFIG) == ResolvedPolicy(Policy.ERROR, "--policy")
    assert resolve(RISK, "warn", env, CONFIG) == ResolvedPolicy(Policy.WARN, "--risk-policy")
    assert resolve(COMPROMISED, None, env, CONFIG) == ResolvedPolicy(
        Policy.WARN, "PROVSCORE_COMPROMISED_POLICY"
    )
    assert resolve(RISK, None, env, CONFIG) == ResolvedPolicy(Policy.OFF, "PROVSCORE_RISK_POLICY")
    assert resolve(RISK, None, {}, CONFIG) == ResolvedPolicy(
        Policy.ERROR, "/p/provscore.toml risk_policy"
    )
    assert resolve(COMPROMISED, None, {}, Config()) == ResolvedPolicy(Policy.ERROR, "default")
    assert resolve(RISK, None, {}, Config()) == ResolvedPolicy(Policy.WARN, "default")


@pytest.mark.parametrize(
    ("option", "env", "values", "where"),
    [
        ("warning", {}, {}, "--risk-policy"),
        (None, {"PROVSCORE_RISK_POLICY": "no"}, {}, "PROVSCORE_RISK_POLICY"),
        (None, {}, {"risk_policy": "none"}, "/p/provscore.toml risk_policy"),
    ],
)
def test_invalid_value_anywhere_names_where(
    option: str | None, env: dict[str, str], values: dict[str, str], where: str
) -> None:
    config = Config(path=Path("/p/provscore.toml"), values=values)
    with pytest.raises(ConfigError, match=f"^{where}: invalid policy"):
        resolve(RISK, option, env, config)


def test_finding_level_and_listing() -> None:
    assert [finding_level(p) for p in Policy] == [Level.ERROR, Level.WARNING, Level.NONE]
    assert [listed(p) for p in Policy] == [True, True, False]


@pytest.mark.parametrize(
    ("value", "policy", "expected"),
    [
        (None, Policy.ERROR, Level.NONE),
        (10.0, Policy.ERROR, Level.NONE),
        (50.0, Policy.ERROR, Level.WARNING),
        (79.9, Policy.ERROR, Level.WARNING),
        (80.0, Policy.ERROR, Level.ERROR),
        (80.0, Policy.WARN, Level.WARNING),
        (50.0, Policy.WARN, Level.WARNING),
        (10.0, Policy.WARN, Level.NONE),
        (95.0, Policy.OFF, Level.NONE),
        (55.0, Policy.OFF, Level.NONE),
    ],
)
def test_threshold_level(value: float | None, policy: Policy, expected: Level) -> None:
    assert threshold_level(value, 50.0, 80.0, policy) is expected


def test_threshold_level_with_a_threshold_unset() -> None:
    assert threshold_level(99.0, None, 80.0, Policy.ERROR) is Level.ERROR
    assert threshold_level(70.0, None, 80.0, Policy.ERROR) is Level.NONE
    assert threshold_level(99.0, 50.0, None, Policy.ERROR) is Level.WARNING
    assert threshold_level(99.0, None, None, Policy.ERROR) is Level.NONE


def test_exit_code() -> None:
    assert exit_code([]) == 0
    assert exit_code([Level.WARNING, Level.NONE]) == 0
    assert exit_code([Level.NONE, Level.ERROR]) == 1
    assert exit_code(iter([Level.ERROR])) == 1


def test_package_suppression_covers_any_finding_kind_on_that_version() -> None:
    reviewed = Suppression("reviewed the publisher change", package="x@1.2.3")
    by_id = Suppression("false positive", id="MAL-1")
    old = Suppression("old", package="y@1.0.0", until=date(2024, 1, 1))
    findings = [("x@1.2.3", ()), ("x@1.2.3", ("MAL-9",)), ("z@1.0.0", ("GHSA-1", "MAL-1"))]
    matched, unused, expired = split_suppressed(findings, (reviewed, by_id, old), date(2025, 1, 1))
    assert matched == [reviewed, reviewed, by_id]
    assert unused == [] and expired == [old]
    assert split_suppressed([("y@1.0.0", ())], (old,), date(2024, 1, 1))[0] == [old]
