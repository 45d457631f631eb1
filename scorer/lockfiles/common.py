"""What every lockfile reader shares: name and version validation, source classification from
specs and resolved URLs, and the collector that de-duplicates occurrences into `LockedPackage`s.

Lockfiles are untrusted input. Names and versions are checked against npm's rules before they
reach any report, URL or terminal, and a violation is an `InputError` naming the file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from scorer.errors import InputError
from scorer.records import LockedPackage, Lockfile, SourceKind
from scorer.text import json_kind

# npm's rules (validate-npm-package-name), relaxed the way the registry is for old packages:
# uppercase and the characters ~'!()* are allowed, a leading dot or underscore is not.
_NAME_PART = r"[A-Za-z0-9~!'()*-][A-Za-z0-9._~!'()*-]*"
_NAME = re.compile(rf"(?:@{_NAME_PART}/)?{_NAME_PART}")
_NAME_MAX = 214
_NAME_MATCH = _NAME.fullmatch

# SemVer 2.0 as npm writes versions into lockfiles (already normalised, no leading "v").
_SEMVER = re.compile(
    r"(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
_SEMVER_MATCH = _SEMVER.fullmatch
# Non-registry entries may carry a spec instead of a version ("file:../x", a git URL): printable
# ASCII and no whitespace, bounded in length.
_SPEC = re.compile(r"[!-~]{1,1024}")
_SPEC_MATCH = _SPEC.fullmatch
# What npm, yarn and pnpm read as git: explicit git protocols, scp-like `git@host:path`, and the
# hosted shorthands. `ssh://` is git too: no package manager fetches anything else over ssh.
_GIT_PREFIXES = (
    "git+",
    "git:",
    "git@",
    "ssh:",
    "github:",
    "gitlab:",
    "bitbucket:",
    "gist:",
)
_GIT_HOSTS = ("github.com", "gitlab.com", "bitbucket.org")
_GIT_HOST_TARBALLS = ("codeload.github.com", "gitlab.com", "bitbucket.org")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
# Local paths npm and yarn accept as a directory or tarball spec without `file:`.
_PATH_PREFIXES = ("./", "../", "/", "~/", ".\\", "..\\")
_DRIVE = re.compile(r"[A-Za-z]:[\\/]")


def check_name(path: Path, name: object, line: int | None = None) -> str:
    if not isinstance(name, str) or not name:
        raise InputError(path, f"package name {name!r} is not a non-empty string", line)
    if len(name) > _NAME_MAX or not _NAME.fullmatch(name):
        raise InputError(path, f"invalid npm package name {_shown(name)}", line)
    return name


def check_version(
    path: Path, name: str, version: object, source: SourceKind, line: int | None = None
) -> str:
    """A registry package must have a SemVer version; other sources may record a spec."""
    if not isinstance(version, str) or not version:
        raise InputError(path, f"{name}: version {version!r} is not a non-empty string", line)
    if source is SourceKind.REGISTRY:
        if len(version) > 256 or not _SEMVER.fullmatch(version):
            raise InputError(path, f"{name}: invalid version {_shown(version)}", line)
    elif not _SPEC.fullmatch(version):
        raise InputError(path, f"{name}: invalid version or spec {_shown(version)}", line)
    return version


def is_semver(version: str) -> bool:
    return _SEMVER.fullmatch(version) is not None


def _shown(text: str) -> str:
    """Quote untrusted text for an error message with control characters escaped."""
    return repr(text[:120] + ("..." if len(text) > 120 else ""))


def split_spec(spec: str) -> tuple[str, str]:
    """Split `name@range` (scoped names keep their leading `@`) into (name, range)."""
    at = spec.find("@", 1)
    if at == -1:
        return spec, ""
    return spec[:at], spec[at + 1 :]


def is_registry_tarball(url: str, name: str, version: str) -> bool:
    """Whether `url` is a registry download of name@version: `<registry>/<name>/-/<base>-<v>.tgz`.

    Any registry host qualifies (mirrors, private registries); what identifies a registry
    download is the path shape, which remote tarballs and git hosts do not have.
    """
    if not url.startswith(("https://", "http://")):
        return False
    path = url.split("#", 1)[0].split("?", 1)[0]
    if "%" in path:
        path = unquote(path)
    base = name.rsplit("/", 1)[-1]
    return path.endswith(f"/{name}/-/{base}-{version}.tgz")


def registry_tarball_version(url: str, name: str) -> str | None:
    """The version a registry download URL of `name` names (`<registry>/<name>/-/<base>-<v>.tgz`),
    or None when `url` is not one. That version is what gets installed, whatever the entry's
    `version` field claims."""
    if not url.startswith(("https://", "http://")):
        return None
    path = url.split("#", 1)[0].split("?", 1)[0]
    if "%" in path:
        path = unquote(path)
    base = name.rsplit("/", 1)[-1]
    marker = f"/{name}/-/{base}-"
    at = path.rfind(marker)
    if at == -1 or not path.endswith(".tgz"):
        return None
    version = path[at + len(marker) : -len(".tgz")]
    return version if len(version) <= 256 and _SEMVER_MATCH(version) else None


def classify_url(path: Path, what: str, url: str) -> SourceKind | None:
    """The source kind a resolved URL or spec implies on its own, or None for an http(s) URL
    whose meaning depends on the package (registry download or remote tarball).

    A scheme no package manager fetches from is an `InputError` naming `what` (the entry):
    guessing would hide a package from the audit or misfile it.
    """
    if url.startswith(("https://", "http://")):
        bare = url.split("#", 1)[0].split("?", 1)[0]
        host = url.split("/", 3)[2].lower() if url.count("/") >= 2 else ""
        host = host.rsplit("@", 1)[-1]
        # Git hosts serve commit tarballs at /<owner>/<repo>/tar.gz/<commit>.
        if "/tar.gz/" in url and host in _GIT_HOST_TARBALLS:
            return SourceKind.GIT
        # A repository URL (`…/repo.git`, with or without `#<commit>`), and a hosted
        # `https://github.com/<owner>/<repo>#<commit>`: what npm's hosted-git-info and yarn's git
        # resolver read as git. A download path on those hosts (`/archive/…`) stays a tarball.
        if bare.endswith(".git"):
            return SourceKind.GIT
        parts = bare.split("/")[3:]
        if host in _GIT_HOSTS and len([p for p in parts if p]) == 2:
            return SourceKind.GIT
        return None
    if url.startswith(_GIT_PREFIXES):
        return SourceKind.GIT
    if url.startswith(("link:", "portal:")):
        return SourceKind.LINK
    if url.startswith("file:") or url.startswith(_PATH_PREFIXES) or _DRIVE.match(url):
        return SourceKind.FILE
    scheme = _SCHEME.match(url)
    kind = f"scheme {scheme.group(0)!r}" if scheme else "spec (no scheme, not a path)"
    raise InputError(
        path,
        f"{what}: unknown source {_shown(url)}: a {kind} that is not a registry version, git, "
        "file, link or tarball URL",
    )


_UNSET: Any = object()


def _fold(seen: Any, flag: bool | None) -> Any:
    """A package is dev-only (optional-only, peer-only) when every occurrence is; unknown if
    any occurrence does not say."""
    if seen is _UNSET:
        return flag
    if seen is None or flag is None:
        return None
    return seen and flag


class _Occurrences:
    __slots__ = ("aliases", "dev", "integrity", "optional", "paths", "peer", "resolved")

    def __init__(self) -> None:
        self.aliases: set[str] = set()
        self.paths: list[str] = []
        self.resolved: str | None = None
        self.integrity: str | None = None
        self.dev: Any = _UNSET
        self.optional: Any = _UNSET
        self.peer: Any = _UNSET


class Collector:
    """Gathers every occurrence a lockfile records and folds them into `LockedPackage`s keyed by
    (name, version, source), keeping every path and alias."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: dict[tuple[str, str, SourceKind], _Occurrences] = {}
        self._warnings: list[str] = []

    def warn(self, message: str) -> None:
        """Record that an entry was read in a degraded way (the CLI prints it on stderr)."""
        self._warnings.append(message)

    def add(
        self,
        name: object,
        version: object,
        source: SourceKind,
        where: str,
        *,
        alias: str | None = None,
        resolved: str | None = None,
        integrity: str | None = None,
        dev: bool | None = None,
        optional: bool | None = None,
        peer: bool | None = None,
        line: int | None = None,
    ) -> None:
        # The common case (a valid registry entry) is checked inline: this runs once per entry
        # of lockfiles with tens of thousands of them.
        if type(name) is str and len(name) <= _NAME_MAX and _NAME_MATCH(name):
            real = name
        else:
            real = check_name(self.path, name, line)
        if not (
            source is SourceKind.REGISTRY
            and type(version) is str
            and len(version) <= 256
            and _SEMVER_MATCH(version)
        ):
            check_version(self.path, real, version, source, line)
        ver: str = version  # type: ignore[assignment]  # checked just above
        if alias is not None and alias != real:
            check_name(self.path, alias, line)
        else:
            alias = None
        # Some writers (npm_ex) record a missing value as "": that is absent, not a value.
        if resolved is not None and (not resolved or not self._text_ok(resolved)):
            resolved = self._checked(resolved, "resolved", real, ver, line)
        if integrity is not None and (not integrity or not self._text_ok(integrity)):
            integrity = self._checked(integrity, "integrity", real, ver, line)
        if source is SourceKind.TARBALL and resolved is not None:
            source, ver = self._installed(real, ver, resolved, where)
        key = (real, ver, source)
        occ = self._seen.get(key)
        if occ is None:
            occ = self._seen[key] = _Occurrences()
            occ.resolved, occ.integrity = resolved, integrity
            occ.dev, occ.optional, occ.peer = dev, optional, peer
        else:
            occ.resolved = occ.resolved or resolved
            occ.integrity = occ.integrity or integrity
            occ.dev = _fold(occ.dev, dev)
            occ.optional = _fold(occ.optional, optional)
            occ.peer = _fold(occ.peer, peer)
        if alias:
            occ.aliases.add(alias)
        occ.paths.append(where)

    def _installed(
        self, name: str, version: str, resolved: str, where: str
    ) -> tuple[SourceKind, str]:
        """An entry filed as a remote tarball whose `resolved` is the registry download of
        another version (`version` says 5.6.0, the URL fetches 5.6.1): the URL is what npm
        installs, so the package is checked as that registry version, and the mismatch, which
        no package manager writes on its own, is reported."""
        installed = registry_tarball_version(resolved, name)
        if installed is None:
            return SourceKind.TARBALL, version
        self.warn(
            f"{where}: {name} is recorded as version {_shown(version)} but resolved from the "
            f"registry tarball of {installed}: checked as {name}@{installed} (the lockfile was "
            "edited or tampered with)"
        )
        return SourceKind.REGISTRY, installed

    @staticmethod
    def _text_ok(text: object) -> bool:
        return type(text) is str and _SPEC_MATCH(text) is not None

    def _checked(
        self, text: object, label: str, name: str, version: str, line: int | None
    ) -> str | None:
        if text == "":
            return None
        raise InputError(self.path, f"{name}@{version}: invalid {label} {text!r}"[:200], line)

    def lockfile(self, fmt: str) -> Lockfile:
        packages = [
            LockedPackage(
                name=name,
                version=version,
                source=source,
                aliases=tuple(sorted(occ.aliases)) if occ.aliases else (),
                resolved=occ.resolved,
                integrity=occ.integrity,
                dev=occ.dev,
                optional=occ.optional,
                peer=occ.peer,
                paths=tuple(occ.paths) if len(occ.paths) == 1 else tuple(sorted(set(occ.paths))),
            )
            for (name, version, source), occ in self._seen.items()
        ]
        packages.sort(key=lambda p: (p.name, p.version, p.source))
        return Lockfile(
            path=self.path, format=fmt, packages=tuple(packages), warnings=tuple(self._warnings)
        )


def load_json(path: Path, text: str) -> object:
    """`json.loads` whose failures name the file and the line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            path, f"not valid JSON: {exc.msg} (column {exc.colno})", exc.lineno
        ) from None
    except RecursionError:
        raise InputError(path, "JSON is nested too deeply to be a lockfile") from None


def line_of(text: str, needle: str) -> int | None:
    """The 1-based line of the first occurrence of `needle`, for error messages and SARIF."""
    at = text.find(needle)
    return None if at == -1 else text.count("\n", 0, at) + 1


def expect_dict(path: Path, value: object, what: str, line: int | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(path, f"{what} is {json_kind(value)}, expected an object", line)
    return value


def flag(path: Path, entry: dict[str, Any], key: str, where: str) -> bool | None:
    """A boolean field that may be absent (False: the format records flags by presence)."""
    value = entry.get(key, False)
    if value is not True and value is not False:
        raise InputError(path, f"{where}: {key} is {value!r}, expected true or false")
    return value


def format_version(
    path: Path, text: str, value: object, supported: frozenset[int], what: str, needle: str
) -> int:
    """The lockfile's format version, if it is one this reader knows; else an InputError."""
    if isinstance(value, bool) or not isinstance(value, int) or value not in supported:
        known = ", ".join(map(str, sorted(supported)))
        raise InputError(
            path,
            f"unsupported {what} {repr(value)[:60]} (supported: {known})",
            line_of(text, needle),
        )
    return value
