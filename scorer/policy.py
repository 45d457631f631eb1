"""The one policy engine: `error` / `warn` / `off`, where it comes from, and what it means.

A `PolicySetting` names the option, environment variable, config key and default of one use
of the policy (`COMPROMISED` for malicious matches, `RISK` for risk thresholds, `VERIFY` for
the lockfile's verification checks); `resolve` applies the one order of precedence: the
command-line option, then the environment variable, then the project configuration, then the
default. An invalid value anywhere is a configuration
error (exit 2): a typo must never turn a gate off. What a policy means is decided here and
nowhere else: the `Level` of a hard finding, a verification result, a name collision or a
thresholded score, whether renderers list findings, and the exit code of a run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from scorer.config import Config
from scorer.errors import ConfigError
from scorer.records import Level, Severity


class Policy(StrEnum):
    ERROR = "error"  # findings fail the run (exit 1)
    WARN = "warn"  # findings are reported as warnings; exit 0
    OFF = "off"  # findings are not failures; one summary line; exit 0


@dataclass(frozen=True, slots=True)
class PolicySetting:
    """Where one use of the policy is set: `--option`, `ENV_VAR`, config `key`, and its default."""

    option: str
    env: str
    key: str
    default: Policy


COMPROMISED = PolicySetting(
    "--policy", "PROVSCORE_COMPROMISED_POLICY", "compromised_policy", Policy.ERROR
)
RISK = PolicySetting("--risk-policy", "PROVSCORE_RISK_POLICY", "risk_policy", Policy.WARN)
VERIFY = PolicySetting("--policy", "PROVSCORE_VERIFY_POLICY", "verify_policy", Policy.ERROR)


@dataclass(frozen=True, slots=True)
class ResolvedPolicy:
    """A policy and where it came from: the option, the variable, `<config file> <key>`, or
    `default`."""

    policy: Policy
    origin: str


def resolve(
    setting: PolicySetting, option: str | None, env: Mapping[str, str], config: Config
) -> ResolvedPolicy:
    """The first of option, environment variable and config key that is set, else the default."""
    configured = config.get_str(setting.key)
    candidates = [
        (option, setting.option),
        (env.get(setting.env), setting.env),
        (configured, f"{config.path} {setting.key}"),
    ]
    for value, origin in candidates:
        if value is None:
            continue
        try:
            return ResolvedPolicy(Policy(value.strip().lower()), origin)
        except ValueError:
            raise ConfigError(
                f"{origin}: invalid policy {value!r} (expected error, warn or off)"
            ) from None
    return ResolvedPolicy(setting.default, "default")


def finding_level(policy: Policy) -> Level:
    """The level of a hard finding (a malicious match) under `policy`."""
    match policy:
        case Policy.ERROR:
            return Level.ERROR
        case Policy.WARN:
            return Level.WARNING
        case Policy.OFF:
            return Level.NONE


def collision_level(policy: Policy) -> Level:
    """The level of a name collision (a private package named like a public malicious one):
    a warning to review the registry routing, never a failure, since the bytes installed are
    not the malicious package's; only counted under off."""
    return Level.NONE if policy is Policy.OFF else Level.WARNING


def check_level(severity: Severity, policy: Policy) -> Level:
    """The level of one verification result under `policy`: a hard failure is a hard finding,
    a soft one (a gap that should not be there) and a name collision are warnings, and a
    result without a finding is none."""
    match severity:
        case Severity.HARD:
            return finding_level(policy)
        case Severity.SOFT | Severity.COLLISION:
            return collision_level(policy)
        case Severity.NONE:
            return Level.NONE


def threshold_level(
    value: float | None, warn: float | None, error: float | None, policy: Policy
) -> Level:
    """The level of a score against its thresholds (either may be unset) under `policy`.

    At or above `error`: an error under policy error, a warning under warn. At or above `warn`:
    a warning. Policy off only counts (none); an unknown score (None) is never flagged here.
    """
    if value is None or policy is Policy.OFF:
        return Level.NONE
    if error is not None and value >= error:
        return Level.ERROR if policy is Policy.ERROR else Level.WARNING
    if warn is not None and value >= warn:
        return Level.WARNING
    return Level.NONE


def exit_code(levels: Iterable[Level]) -> int:
    """1 when any item is at level error, else 0."""
    return 1 if any(level is Level.ERROR for level in levels) else 0


def listed(policy: Policy) -> bool:
    """Whether renderers list findings one by one (under off they are only counted)."""
    return policy is not Policy.OFF
