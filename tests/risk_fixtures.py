"""Test helpers for features and scoring: real packuments from ../shared/data, and CONSTRUCTED
package documents.

Every constructed document carries `_provscore_constructed` saying so. The incident histories
take their facts (versions, days, what changed: install script, provenance, trusted publishing,
publisher) from ../shared/data/npm-incidents.md; everything that write-up does not give (times
of day, earlier versions' dates, account names) is constructed, and account names are fictional
(`*-example`) so that no real person is described.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import shared_data

# Long after every real packument's last release, so young_release never fires on them.
LATE = datetime(2035, 1, 1, tzinfo=UTC)


def real_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every full or abbreviated real registry document in the shared data (skip if absent)."""
    for path in sorted(shared_data.require(shared_data.PACKUMENTS).rglob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and isinstance(doc.get("versions"), dict):
            yield path, doc


@dataclass(frozen=True)
class Release:
    """One constructed version: who published it, how, and when."""

    version: str
    time: str
    publisher: str | None
    maintainers: Sequence[str] = ()
    trusted: bool = False
    provenance: bool = False
    scripts: Mapping[str, str] = field(default_factory=dict)


def constructed(
    name: str, note: str, releases: Sequence[Release], created: str | None = None
) -> dict[str, Any]:
    """A CONSTRUCTED full registry document with the given releases."""
    versions: dict[str, Any] = {}
    times: dict[str, str] = {"created": created or releases[0].time}
    for r in releases:
        manifest: dict[str, Any] = {
            "name": name,
            "version": r.version,
            "scripts": {"test": "node test.js", **r.scripts},
            "dist": {"tarball": f"https://registry.example.invalid/{name}/-/x-{r.version}.tgz"},
            "maintainers": [
                {"name": m, "email": f"{m}@mail.example.invalid"} for m in r.maintainers
            ],
        }
        if r.publisher is not None:
            user: dict[str, Any] = {"name": r.publisher, "email": "x@mail.example.invalid"}
            if r.trusted:
                user["trustedPublisher"] = {"id": "github", "oidcConfigId": "oidc:constructed"}
            manifest["_npmUser"] = user
        if r.provenance:
            manifest["dist"]["attestations"] = {
                "url": f"https://registry.example.invalid/-/npm/v1/attestations/{name}@{r.version}",
                "provenance": {"predicateType": "https://slsa.dev/provenance/v1"},
            }
        versions[r.version] = manifest
        times[r.version] = r.time
    return {
        "_provscore_constructed": note,
        "name": name,
        "versions": versions,
        "time": times,
        "maintainers": [{"name": m} for m in releases[-1].maintainers],
    }


@dataclass(frozen=True)
class Incident:
    """A documented compromise as a CONSTRUCTED history. `strong` is False where the write-up
    documents no publication signal (the usual account published as usual)."""

    label: str
    document: dict[str, Any]
    versions: tuple[str, ...]  # the malicious ones
    now: datetime  # a scan while the versions were live (all were removed within days)
    strong: bool


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def incidents() -> list[Incident]:
    ci = "GitHub Actions"
    axios = constructed(
        "axios",
        "CONSTRUCTED from npm-incidents.md (axios, 31 Mar 2026): 1.14.0 by trusted publishing "
        "with provenance, 1.14.1 from a maintainer's personal account with neither. Earlier "
        "releases, dates and account names are constructed.",
        [
            Release("1.10.0", "2025-06-18T10:00:00.000Z", "maint-a-example", ["maint-a-example"]),
            Release("1.12.0", "2025-09-30T10:00:00.000Z", ci, ["maint-a-example"], True, True),
            Release("1.13.0", "2025-12-01T10:00:00.000Z", ci, ["maint-a-example"], True, True),
            Release("1.14.0", "2026-03-20T10:00:00.000Z", ci, ["maint-a-example"], True, True),
            Release("1.14.1", "2026-03-31T00:21:00.000Z", "maint-a-example", ["maint-a-example"]),
        ],
    )
    pre = {"preinstall": "start /B node preinstall.js & node preinstall.js"}
    ua = constructed(
        "ua-parser-js",
        "CONSTRUCTED from npm-incidents.md (ua-parser-js, 22 Oct 2021): 0.7.29, 0.8.0 and 1.0.0 "
        "published the same day from the usual (hijacked) account with a preinstall added. "
        "Times of day, 0.7.28's date and the account name are constructed.",
        [
            Release("0.7.25", "2021-02-03T10:00:00.000Z", "ua-maint-example", ["ua-maint-example"]),
            Release("0.7.26", "2021-03-01T10:00:00.000Z", "ua-maint-example", ["ua-maint-example"]),
            Release("0.7.27", "2021-03-17T10:00:00.000Z", "ua-maint-example", ["ua-maint-example"]),
            Release("0.7.28", "2021-04-12T10:00:00.000Z", "ua-maint-example", ["ua-maint-example"]),
            Release(
                "0.7.29",
                "2021-10-22T12:15:00.000Z",
                "ua-maint-example",
                ["ua-maint-example"],
                scripts=pre,
            ),
            Release(
                "0.8.0",
                "2021-10-22T12:16:00.000Z",
                "ua-maint-example",
                ["ua-maint-example"],
                scripts=pre,
            ),
            Release(
                "1.0.0",
                "2021-10-22T12:17:00.000Z",
                "ua-maint-example",
                ["ua-maint-example"],
                scripts=pre,
            ),
        ],
    )
    post_nx = {"postinstall": "node telemetry.js"}
    nx_rel = [
        Release(
            "21.1.0", "2025-05-20T10:00:00.000Z", "nx-ci-example", ["nx-ci-example"], False, True
        ),
        Release(
            "21.2.0", "2025-06-20T10:00:00.000Z", "nx-ci-example", ["nx-ci-example"], False, True
        ),
        Release(
            "21.3.0", "2025-07-20T10:00:00.000Z", "nx-ci-example", ["nx-ci-example"], False, True
        ),
        Release(
            "21.4.1", "2025-08-20T10:00:00.000Z", "nx-ci-example", ["nx-ci-example"], False, True
        ),
    ]
    # Documented: first malicious publish 6:32 PM EDT, last 8:37 PM EDT on 26 Aug 2025.
    for version, time in (
        ("21.5.0", "2025-08-26T22:32:00.000Z"),
        ("21.6.0", "2025-08-26T23:10:00.000Z"),
        ("21.7.0", "2025-08-26T23:50:00.000Z"),
        ("21.8.0", "2025-08-27T00:37:00.000Z"),
    ):
        nx_rel.append(Release(version, time, "nx-ci-example", ["nx-ci-example"], scripts=post_nx))
    nx = constructed(
        "nx",
        "CONSTRUCTED from npm-incidents.md (nx s1ngularity, 26 Aug 2025): recent versions had "
        "provenance; 21.5.0-21.8.0 published with a stolen token (no provenance) and a postinstall "
        "added, within two hours. Earlier releases, times and the account name are constructed.",
        nx_rel,
    )
    post = {"postinstall": "node bundle.js"}
    tiny = constructed(
        "@ctrl/tinycolor",
        "CONSTRUCTED from npm-incidents.md (Shai-Hulud, Sept 2025): 4.1.1 and 4.1.2 published "
        "minutes apart with the maintainer's stolen token, postinstall added. Times, 4.1.0's date "
        "and the account name are constructed.",
        [
            Release("3.6.0", "2023-03-01T10:00:00.000Z", "tc-maint-example", ["tc-maint-example"]),
            Release("3.6.1", "2023-09-01T10:00:00.000Z", "tc-maint-example", ["tc-maint-example"]),
            Release("4.0.0", "2024-11-01T10:00:00.000Z", "tc-maint-example", ["tc-maint-example"]),
            Release("4.1.0", "2025-03-01T10:00:00.000Z", "tc-maint-example", ["tc-maint-example"]),
            Release(
                "4.1.1",
                "2025-09-15T19:18:00.000Z",
                "tc-maint-example",
                ["tc-maint-example"],
                scripts=post,
            ),
            Release(
                "4.1.2",
                "2025-09-15T19:26:00.000Z",
                "tc-maint-example",
                ["tc-maint-example"],
                scripts=post,
            ),
        ],
    )
    ipc = constructed(
        "node-ipc",
        "CONSTRUCTED from npm-incidents.md (node-ipc, March 2022): 10.1.1 published by the usual "
        "maintainer account, no install script. Dates and the account name are constructed.",
        [
            Release(
                "10.0.0", "2021-08-01T10:00:00.000Z", "ipc-maint-example", ["ipc-maint-example"]
            ),
            Release(
                "10.1.0", "2021-10-01T10:00:00.000Z", "ipc-maint-example", ["ipc-maint-example"]
            ),
            Release(
                "10.1.1", "2022-03-07T10:00:00.000Z", "ipc-maint-example", ["ipc-maint-example"]
            ),
        ],
    )
    return [
        Incident("axios 1.14.1", axios, ("1.14.1",), _at("2026-03-31T03:00:00+00:00"), True),
        Incident(
            "ua-parser-js", ua, ("0.7.29", "0.8.0", "1.0.0"), _at("2021-10-22T16:00:00+00:00"), True
        ),
        Incident(
            "nx",
            nx,
            ("21.5.0", "21.6.0", "21.7.0", "21.8.0"),
            _at("2025-08-27T02:00:00+00:00"),
            True,
        ),
        Incident(
            "@ctrl/tinycolor", tiny, ("4.1.1", "4.1.2"), _at("2025-09-16T00:00:00+00:00"), True
        ),
        Incident("node-ipc 10.1.1", ipc, ("10.1.1",), _at("2022-03-08T10:00:00+00:00"), False),
    ]
