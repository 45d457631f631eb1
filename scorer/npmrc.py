"""Which registry to ask, and which credentials go to which host.

Order for the default registry: `--registry`, then `NPM_CONFIG_REGISTRY`, then `registry=` in the
project `.npmrc`, then the user `.npmrc`, then the origin of the lockfile's own `resolved` URLs.
Like npm, `@scope:registry=` in an `.npmrc` sends that scope's packages to its own registry.
Nothing is hard-coded: when no source names a registry, that is a `ConfigError` saying how to set
one. `//host[:port]/path/:_authToken=` tokens are kept per host and handed out only for URLs on
that same host and port, under that path. `${VAR}` in the user `.npmrc` is expanded from the
environment, as npm does; an undefined variable is an error naming the file. A project `.npmrc`
comes with the repository, so its `${VAR}` is not expanded: npm would let a repository send any
environment variable to a host of its choosing. A token that needs one is an error saying to
move the line to the user `.npmrc`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from scorer.errors import ConfigError
from scorer.records import LockedPackage, SourceKind

_ENV_REF = re.compile(r"(\\*)\$\{([^}?]+)(\?)?\}")
HOW_TO_SET = (
    "no npm registry configured: pass --registry URL, set NPM_CONFIG_REGISTRY, "
    "or put registry=URL in the project or user .npmrc"
)


@dataclass(frozen=True, slots=True)
class Npmrc:
    """The registry-related settings of the project and user `.npmrc` files, merged."""

    registry: tuple[str, str] | None = None  # (url, file it came from)
    scopes: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # "@x" -> (url, file)
    tokens: Mapping[str, str] = field(default_factory=dict)  # "//host[:port]/path/" -> token
    files: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class RegistrySelection:
    """The chosen default registry, where the choice came from, and per-scope registries.

    `explicit` is False only for a registry inferred from the lockfile: such a host is only ever
    contacted over https.
    """

    url: str
    origin: str
    explicit: bool
    scopes: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def for_package(self, name: str) -> str:
        if name.startswith("@") and "/" in name:
            scoped = self.scopes.get(name.split("/", 1)[0])
            if scoped is not None:
                return scoped[0]
        return self.url

    def describe(self) -> str:
        """One line for the user: which registry is used and why."""
        scoped = "".join(f", {s} -> {u} ({o})" for s, (u, o) in sorted(self.scopes.items()))
        return f"registry: {self.url} (from {self.origin}){scoped}"


def expand_env(value: str, env: Mapping[str, str], where: str) -> str:
    """npm's `${VAR}` expansion: `${VAR?}` may be undefined (empty), `\\${VAR}` stays literal."""

    def replace(match: re.Match[str]) -> str:
        slashes, name, optional = match.group(1), match.group(2), match.group(3)
        if len(slashes) % 2:  # escaped: drop one backslash, keep the reference
            return slashes[1:] + "${" + name + (optional or "") + "}"
        if name in env:
            return slashes + env[name]
        if optional:
            return slashes
        raise ConfigError(f"{where}: environment variable {name} is not set (used as ${{{name}}})")

    return _ENV_REF.sub(replace, value)


def parse_npmrc(
    text: str, env: Mapping[str, str], path: Path | str = ".npmrc", *, expand: bool = True
) -> dict[str, str]:
    """Key/value pairs of an `.npmrc` (ini style; `;`/`#` comments; quoted values; `${VAR}`
    expanded unless `expand` is False, when references are kept as written)."""
    if not expand:
        env = _Literal()
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in ";#" or (line.startswith("[") and line.endswith("]")):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            values[expand_env(key.strip(), env, f"{path}:{number}")] = "true"  # bare flag
            continue
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ConfigError(f"{path}:{number}: bad quoted value") from exc
        where = f"{path}:{number}"
        values[expand_env(key, env, where)] = expand_env(value, env, where)
    return values


class _Literal(dict[str, str]):
    """An environment in which `${NAME}` expands to itself (what a project .npmrc sees)."""

    def __contains__(self, name: object) -> bool:
        return True

    def __getitem__(self, name: str) -> str:
        return "${" + name + "}"


def user_npmrc_path(env: Mapping[str, str]) -> Path:
    configured = env.get("NPM_CONFIG_USERCONFIG") or env.get("npm_config_userconfig")
    return Path(configured) if configured else Path(env.get("HOME", str(Path.home()))) / ".npmrc"


def load_npmrc(
    project_dir: Path | None, env: Mapping[str, str], user_file: Path | None = None
) -> Npmrc:
    """Merge the user file, then the project file over it (project settings win)."""
    user = user_file if user_file is not None else user_npmrc_path(env)
    candidates = [user] + ([project_dir / ".npmrc"] if project_dir is not None else [])
    registry: tuple[str, str] | None = None
    scopes: dict[str, tuple[str, str]] = {}
    tokens: dict[str, str] = {}
    files: list[Path] = []
    for path in candidates:
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read .npmrc: {exc}") from exc
        files.append(path)
        is_user = path == user
        for key, value in parse_npmrc(text, env, path, expand=is_user).items():
            if key == "registry":
                registry = (_registry_url(value, str(path)), str(path))
            elif key.startswith("@") and key.endswith(":registry"):
                scopes[key[: -len(":registry")]] = (_registry_url(value, str(path)), str(path))
            elif key.startswith("//") and key.endswith(":_authToken"):
                if not is_user and _ENV_REF.search(value):
                    raise ConfigError(
                        f"{path}: {key} uses an environment variable, which a project .npmrc"
                        " may not: the repository would choose what is sent where. Put the"
                        " line in your user .npmrc (~/.npmrc or $NPM_CONFIG_USERCONFIG)"
                    )
                nerfed = _nerf(key[: -len(":_authToken")])
                if nerfed is None:
                    raise ConfigError(
                        f"{path}: {key[:120]!r} does not name a host and port"
                        " (//host[:port]/path/:_authToken=TOKEN)"
                    )
                tokens[nerfed] = value
    return Npmrc(registry, scopes, tokens, tuple(files))


def select_registry(
    option: str | None,
    env: Mapping[str, str],
    npmrc: Npmrc,
    packages: Iterable[LockedPackage] = (),
) -> RegistrySelection:
    """Apply the documented order; raise `ConfigError` when nothing names a registry."""
    from_env = env.get("NPM_CONFIG_REGISTRY") or env.get("npm_config_registry")
    if option:
        return RegistrySelection(
            _registry_url(option, "--registry"), "--registry", True, npmrc.scopes
        )
    if from_env:
        url = _registry_url(from_env, "NPM_CONFIG_REGISTRY")
        return RegistrySelection(url, "NPM_CONFIG_REGISTRY", True, npmrc.scopes)
    if npmrc.registry is not None:
        return RegistrySelection(npmrc.registry[0], npmrc.registry[1], True, npmrc.scopes)
    origin = lockfile_origin(packages)
    if origin is None:
        raise ConfigError(HOW_TO_SET)
    return RegistrySelection(origin, "the lockfile's resolved URLs", False, npmrc.scopes)


def lockfile_origin(packages: Iterable[LockedPackage]) -> str | None:
    """The most common registry base of the `resolved` tarball URLs (`<base>/<name>/-/...`).

    Forced to https unless the host is loopback: a lockfile is input we do not trust to choose
    a clear-text channel.
    """
    bases: Counter[str] = Counter()
    for package in packages:
        if package.source is not SourceKind.REGISTRY or not package.resolved:
            continue
        marker = f"/{package.name}/-/"
        index = package.resolved.find(marker)
        if index <= 0:
            continue
        base = package.resolved[:index]
        parts = split_url(base)
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            continue
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            base = "https" + base[len("http") :]
        bases[base.rstrip("/") + "/"] += 1
    if not bases:
        return None
    return sorted(bases.items(), key=lambda item: (-item[1], item[0]))[0][0]


def token_for(npmrc: Npmrc, url: str) -> str | None:
    """The `_authToken` configured for this URL's host and port, longest matching path first."""
    parts = split_url(url)
    if parts is None or not parts.hostname:
        return None
    host = parts.netloc.rsplit("@", 1)[-1].lower()
    segments = [s for s in parts.path.split("/") if s]
    for cut in range(len(segments), -1, -1):
        key = "//" + host + "/" + "".join(s + "/" for s in segments[:cut])
        if key in npmrc.tokens:
            return npmrc.tokens[key]
    return None


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def split_url(url: str) -> SplitResult | None:
    """`urlsplit(url)` with its port read, or None when Python cannot take the URL apart: an
    unclosed `[` in the host, a port that is not a number or is out of range. Such text comes
    from files (a lockfile's `resolved`, an .npmrc) and must not end a run with a traceback."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (reading it raises ValueError for a bad port)
    except ValueError:
        return None
    return parts


def _nerf(key: str) -> str | None:
    # "//host:port/path" -> "//host:port/path/" lower-cased host, as npm's nerf-dart does
    parts = split_url("https:" + key)
    if parts is None:
        return None
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return "//" + parts.netloc.lower() + path


def checked_url(
    url: str, what: str, *, allow_http_loopback: bool = True, allow_http: bool = False
) -> str:
    """`url` when it is an http(s) URL with a host that may carry `what`; else a ConfigError
    naming `what`. https always; plain http only to this machine (`allow_http_loopback`) unless
    `allow_http`, for an endpoint the user named themselves and sends nothing secret to: an
    answer a network attacker could rewrite must not decide a gate or carry a token."""
    parts = split_url(url)
    if parts is None:
        raise ConfigError(f"{what} {url!r} is not a valid URL (its host or port cannot be read)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what} {url!r} is not an http(s) URL; use https")
    if parts.scheme == "http" and not allow_http:
        if allow_http_loopback and is_loopback(parts.hostname):
            return url
        only = " (plain http only to 127.0.0.1/localhost)" if allow_http_loopback else ""
        raise ConfigError(
            f"{what} {url!r}: refusing plain http to {parts.hostname}; use https{only}"
        )
    return url


def _registry_url(url: str, where: str) -> str:
    # A registry named in an option, the environment or an .npmrc: the user's own choice, so
    # plain http to any host is allowed (a corporate mirror); the path always ends in "/".
    url = checked_url(url, f"{where}: registry", allow_http=True)
    return url if url.endswith("/") else url + "/"


def environ() -> Mapping[str, str]:
    """The process environment (a seam so tests pass their own mapping instead)."""
    return os.environ
