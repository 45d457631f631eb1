"""Command-line option declarations shared by commands (typer `Annotated` aliases).

`audit` and `report` take the same lockfile argument and the same malicious-match options;
`insights show` and `report` the same registry, insights and cache options. Declaring each once
here keeps their names, help texts and defaults identical across commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

LockfileArg = Annotated[
    Path | None,
    typer.Argument(
        help="The lockfile to check (default: the lockfile in the current directory).",
        show_default=False,
    ),
]
OsvFlag = Annotated[
    bool, typer.Option("--osv", help="Online: query the OSV API for every locked version.")
]
CompromisedFlag = Annotated[
    bool,
    typer.Option(
        "--compromised", help="Offline: check against the local OSV database (the default)."
    ),
]
DbOpt = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="Local database: an OSV JSON file (array, or object under vulns or "
        "advisories), a directory of OSV records, or an OSV all.zip. Default: "
        "$PROVSCORE_COMPROMISED_DB, config compromised_db, or "
        "~/.provscore/security/compromised_packages.json.",
        show_default=False,
    ),
]
PolicyOpt = Annotated[
    str | None,
    typer.Option(
        "--policy",
        help="error, warn or off. Default: $PROVSCORE_COMPROMISED_POLICY, then "
        "compromised_policy in [tool.provscore] or provscore.toml, then error.",
        show_default=False,
    ),
]
OsvUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--osv-url",
        help="OSV API base URL. Default: $PROVSCORE_OSV_URL, config osv_url, then "
        "the public OSV API.",
        show_default=False,
    ),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help="Deadline for all network work of the run. Default: $PROVSCORE_TIMEOUT, config "
        "timeout, then 120. Past it --osv fails (exit 3) and registry/insights facts are "
        "unknown (exit 3 under --strict).",
        show_default=False,
    ),
]
RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry",
        help="npm registry URL. Default: $NPM_CONFIG_REGISTRY, then .npmrc (project, then user).",
        show_default=False,
    ),
]
InsightsUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--insights-url",
        help="GraphQL insights endpoint. Default: $PROVSCORE_INSIGHTS_URL; "
        "none: insights facts are unknown.",
        show_default=False,
    ),
]
OfflineOpt = Annotated[
    bool,
    typer.Option(
        "--offline", help="Read only the local cache (and --snapshot); never touch the network."
    ),
]
SnapshotOpt = Annotated[
    Path | None,
    typer.Option(
        "--snapshot",
        help="Write everything fetched to this directory as a deterministic "
        "snapshot; with --offline, read from it.",
        show_default=False,
    ),
]
CacheDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Registry document cache (default ~/.provscore/cache).",
        show_default=False,
    ),
]
