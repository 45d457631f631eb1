"""Where the lockfile says a version comes from, against where it should come from (pure).

A `resolved` URL is checked against the registry configured for the package's scope (.npmrc,
or the default registry): another host (unless allowed), plain http to anything but this
machine, or a tarball path that is not this name and version's tarball is a hard finding, since
an edited lockfile installs whatever those bytes are. `private_origin` says whether a version
was resolved from a private registry: a scope registry of the .npmrc other than the default, or
one listed in config `private_registries`. A malicious advisory (about the public registry)
matching such a version is a name collision, not the public malicious package.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import SplitResult, unquote

from scorer.npmrc import is_loopback, split_url
from scorer.records import Check, CheckResult, LockedPackage, Outcome, Severity

ADVISORY_ORIGIN = "the public npm registry (OSV ecosystem npm)"


def _host(parts: SplitResult) -> str:
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def tarball_suffix(name: str, version: str) -> str:
    """The end of a registry tarball path: `/<name>/-/<unscoped name>-<version>.tgz`."""
    return f"/{name}/-/{name.rsplit('/', 1)[-1]}-{version}.tgz"


def check_origin(
    package: LockedPackage,
    registry: str,
    registry_origin: str,
    allowed_hosts: Iterable[str] = (),
) -> CheckResult:
    """The package's `resolved` URL against `registry` (its scope's registry, chosen by
    `registry_origin`) and the allowed hosts."""
    check = Check.ORIGIN
    resolved = package.resolved
    if not resolved:
        return CheckResult(
            check,
            Outcome.UNVERIFIABLE,
            Severity.NONE,
            why="the lockfile records no resolved URL: it is fetched from the configured registry",
        )
    parts = split_url(resolved)
    if parts is None:
        return CheckResult(
            check,
            Outcome.FAILED,
            Severity.HARD,
            detail=f"resolved {resolved!r} is not a valid URL (its host or port cannot be read)",
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return CheckResult(
            check,
            Outcome.FAILED,
            Severity.HARD,
            detail=f"resolved {resolved!r} is not an http(s) URL",
        )
    problems = []
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        problems.append(f"plain http: {resolved} can be rewritten in transit")
    host = _host(parts)
    registry_parts = split_url(registry)  # a configured registry, read by checked_url already
    expected = "" if registry_parts is None else _host(registry_parts)
    allowed = {h.lower() for h in allowed_hosts}
    if host != expected and host not in allowed and (parts.hostname or "").lower() not in allowed:
        problems.append(
            f"resolved from {host}, but {package.name} comes from {registry} "
            f"({registry_origin})"
            + (f"; allowed hosts: {', '.join(sorted(allowed))}" if allowed else "")
        )
    path = unquote(parts.path).replace("%2f", "/").replace("%2F", "/")
    suffix = tarball_suffix(package.name, package.version)
    if not path.endswith(suffix):
        problems.append(f"the tarball path {parts.path} is not {package.spec}'s ({suffix})")
    if problems:
        return CheckResult(check, Outcome.FAILED, Severity.HARD, detail="; ".join(problems))
    return CheckResult(check, Outcome.VERIFIED, Severity.NONE, detail=f"from {host}")


def private_registries(
    default: str | None, scopes: Mapping[str, tuple[str, str]], configured: Iterable[str] = ()
) -> tuple[str, ...]:
    """The registries whose packages are private: every scope registry that is not the default
    one, and those listed in config `private_registries`. Each ends in `/`."""
    out = {url for url, _ in scopes.values() if url != default}
    out |= {u if u.endswith("/") else u + "/" for u in configured}
    return tuple(sorted(out))


def private_origin(package: LockedPackage, private: Iterable[str]) -> str | None:
    """The private registry `package` was resolved from, else None."""
    if not package.resolved:
        return None
    resolved = split_url(package.resolved)
    if resolved is None:  # not a URL anything could be fetched from, so from no registry
        return None
    for base in private:
        wanted = split_url(base)
        if (
            wanted is not None
            and _host(resolved) == _host(wanted)
            and resolved.scheme == wanted.scheme
            and resolved.path.startswith(wanted.path or "/")
        ):
            return base
    return None
