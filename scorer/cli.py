"""The `provscore` command line (typer).

This is the only place where exceptions become exit codes: a `ProvscoreError` prints one line
on stderr and exits with the code its class carries (2 bad input or configuration, 3 a required
source unreachable); usage errors exit 2 as typer decides.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scorer import __version__
from scorer.errors import InputError, ProvscoreError
from scorer.options import (
    CacheDirOpt,
    CompromisedFlag,
    DbOpt,
    InsightsUrlOpt,
    LockfileArg,
    OfflineOpt,
    OsvFlag,
    OsvUrlOpt,
    PolicyOpt,
    RegistryOpt,
    SnapshotOpt,
    TimeoutOpt,
)
from scorer.report.formats import (
    AuditFormat,
    ListFormat,
    PublicationFormat,
    ReportFormat,
    VerifyFormat,
)
from scorer.text import safe

if TYPE_CHECKING:
    from scorer.records import Lockfile

app = typer.Typer(
    name="provscore",
    help="Find the locked npm package versions that are malicious or were published riskily.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Help texts name `[tool.provscore]`: rich markup would read it as a style tag and drop it.
    rich_markup_mode=None,
)
lock_app = typer.Typer(
    help="Read lockfiles: list what a lockfile records as installed.", no_args_is_help=True
)
app.add_typer(lock_app, name="lock")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"provscore {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the provscore version and exit.",
        ),
    ] = False,
) -> None:
    """Find the locked npm package versions that are malicious or were published riskily."""


def _resolve_lockfile(given: Path | None) -> Path:
    """The lockfile given, or the one found in the current directory (said on stderr)."""
    from scorer.lockfiles import find_lockfiles

    if given is not None:
        return given
    found = find_lockfiles(Path.cwd())
    if not found:
        raise InputError(Path.cwd(), "no lockfile here; give one as an argument")
    others = f" (also present: {', '.join(p.name for p in found[1:])})" if found[1:] else ""
    typer.echo(f"provscore: using {found[0].name}{others}", err=True)
    return found[0]


@lock_app.command("list")
def lock_list(
    lockfile: Annotated[
        Path | None,
        typer.Argument(
            help="The lockfile to read (default: the lockfile in the current directory).",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        ListFormat,
        typer.Option(
            "--format", help="text: one line per package; json: the machine-readable list."
        ),
    ] = ListFormat.TEXT,
) -> None:
    """List every package version the lockfile records as installed, sorted by name and version."""
    from scorer.lockfiles import read_lockfile
    from scorer.report.lockfile import RENDERERS

    lock = read_lockfile(_resolve_lockfile(lockfile))
    _lockfile_warnings(lock)
    sys.stdout.write(RENDERERS[fmt](lock, pretty=_pretty()))


def _lockfile_warnings(lock: Lockfile) -> None:
    """What the reader read in a degraded way (an entry without a version), on stderr."""
    for warning in lock.warnings:
        typer.echo(f"provscore: warning: {safe(str(lock.path))}: {safe(warning)}", err=True)


def _require(*modules: str, extra: str = "insights") -> None:
    """Fail with the install command, not an ImportError deep in a request, when an optional
    extra's dependencies are missing."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        from scorer.errors import ConfigError

        raise ConfigError(f"{', '.join(missing)} not installed: pip install 'provscore[{extra}]'")


def main() -> None:
    # Standalone mode: typer reports usage errors itself (exit 2) and turns typer.Exit into the
    # exit code; only provscore's own errors are translated here.
    try:
        app()
    except ProvscoreError as exc:
        typer.echo(f"provscore: error: {safe(str(exc))}", err=True)
        sys.exit(exc.exit_code)


def _exit(code: int) -> None:
    """Exit without tearing down the heap: a run that held tens of thousands of advisory records
    would otherwise spend most of a second freeing them. Output is flushed first, and every
    file provscore writes is already closed (atomic replace), so nothing is lost."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


AUDIT_HELP = "\n\n".join(
    [
        "Check every locked registry version against OSV malicious-package advisories.",
        "Online (--osv) queries the OSV API and fails closed when it cannot; offline"
        " (--compromised, or neither flag) reads a local OSV database. Findings follow one"
        " policy: error fails the run, warn reports them as warnings, off reports one"
        " summary line.",
        "Exit codes: 0 clean, or warnings only; 1 malicious versions found under policy error;"
        " 2 bad input, option or configuration; 3 a required source was unreachable (nothing"
        " written).",
    ]
)


@app.command("audit", help=AUDIT_HELP)
def audit(
    lockfile: LockfileArg = None,
    osv: OsvFlag = False,
    compromised: CompromisedFlag = False,
    db: DbOpt = None,
    write_cache: Annotated[
        bool,
        typer.Option(
            "--write-cache",
            help="Merge the advisories matching this lockfile into the default (shared) database.",
        ),
    ] = False,
    write: Annotated[
        Path | None,
        typer.Option(
            "--write",
            help="Merge the advisories matching this lockfile into this project database file.",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        AuditFormat,
        typer.Option(
            "--format", help="Output: text, json, sarif (2.1.0) or markdown (for a PR comment)."
        ),
    ] = AuditFormat.TEXT,
    policy: PolicyOpt = None,
    osv_url: OsvUrlOpt = None,
    timeout: TimeoutOpt = None,
) -> None:
    from scorer.audit import AuditOptions, run_audit
    from scorer.errors import ConfigError
    from scorer.report.audit import render

    if osv and compromised:
        raise ConfigError("--osv and --compromised exclude each other: choose one mode")
    path = _resolve_lockfile(lockfile)
    if not osv and not compromised:
        typer.echo(
            "provscore: offline audit against the local database (--osv to go online)", err=True
        )
    report = run_audit(
        AuditOptions(
            lockfile=path,
            online=osv,
            db=db,
            write_cache=write_cache,
            write=write,
            policy=policy,
            osv_url=osv_url,
            timeout=timeout,
        ),
        progress=_progress() if osv else None,
    )
    _lockfile_warnings(report.lockfile)
    sys.stdout.write(render(report, fmt, pretty=_pretty()))
    if fmt is not AuditFormat.TEXT:
        for target, counts in report.written:
            typer.echo(
                f"provscore: merged into {safe(str(target))}: {counts.added} added, "
                f"{counts.updated} updated, {counts.unchanged} unchanged",
                err=True,
            )
    _exit(report.exit_code)


def _pretty() -> bool:
    """JSON indented for people on a terminal, compact (and several times faster to encode)
    for machines."""
    return sys.stdout.isatty()


def _progress(label: str = "querying OSV") -> Any:
    """A progress callback drawing on stderr when it is a terminal; None (quiet) otherwise."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=True)
    task = bar.add_task(label, total=None)
    bar.start()

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)
        if total and done >= total:
            bar.stop()

    return update


REPORT_HELP = "\n\n".join(
    [
        "Rank every locked version by publication risk, with the reasons, under one policy.",
        "Malicious matches (the audit gate: --osv online, else the local database) come first,"
        " then every registry version by its risk score (0-100) with the facts behind it:"
        " published over Tor, no 2FA, publisher changed, provenance or trusted publishing"
        " lost, install script added, and more. Unknown facts are reported as unknown, with why.",
        "Exit codes: 0 nothing at error level; 1 a malicious version under policy error, or a"
        " version at or above --risk-error under risk policy error; 2 bad input, option or"
        " configuration; 3 a required source was unreachable (--osv, or --strict).",
    ]
)


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        from scorer.errors import ConfigError

        raise ConfigError(
            f"--now {value!r}: expected an ISO 8601 time, e.g. 2026-11-30T12:00:00Z"
        ) from None


@app.command("report", help=REPORT_HELP)
def report(
    lockfile: LockfileArg = None,
    osv: OsvFlag = False,
    compromised: CompromisedFlag = False,
    db: DbOpt = None,
    policy: PolicyOpt = None,
    osv_url: OsvUrlOpt = None,
    registry: RegistryOpt = None,
    insights_url: InsightsUrlOpt = None,
    timeout: TimeoutOpt = None,
    offline: Annotated[
        bool | None,
        typer.Option(
            "--offline/--no-offline",
            help="Read registry documents and insights only from the cache and --snapshot;"
            " never touch the network (default: config offline, else online).",
            show_default=False,
        ),
    ] = None,
    snapshot: SnapshotOpt = None,
    cache_dir: CacheDirOpt = None,
    scorer: Annotated[
        str | None,
        typer.Option(
            "--scorer",
            help="weighted (default: the shipped weights) or trained. Default: config scorer.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="The model file for --scorer trained.", show_default=False),
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights",
            help="Weights for the weighted scorer (TOML; default: config weights, then the"
            " shipped weights.toml).",
            show_default=False,
        ),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            help="Scan time, ISO 8601 (default: the clock). Release ages are measured from it,"
            " so a run is reproducible.",
            show_default=False,
        ),
    ] = None,
    risk_warn: Annotated[
        float | None,
        typer.Option(
            "--risk-warn",
            help="Flag versions scoring at or above this for review. Default: config"
            " risk_warn, then 40.",
            show_default=False,
        ),
    ] = None,
    risk_error: Annotated[
        float | None,
        typer.Option(
            "--risk-error",
            help="Versions at or above this are errors under risk policy error. Default:"
            " config risk_error, then 70.",
            show_default=False,
        ),
    ] = None,
    risk_policy: Annotated[
        str | None,
        typer.Option(
            "--risk-policy",
            help="error, warn or off for the risk thresholds. Default:"
            " $PROVSCORE_RISK_POLICY, then config risk_policy, then warn.",
            show_default=False,
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="An unreachable registry or insights endpoint is exit 3 instead of unknown facts.",
        ),
    ] = False,
    diff: Annotated[
        Path | None,
        typer.Option(
            "--diff",
            help="Report only the versions that are new or changed against this older"
            " lockfile (for a pull request).",
            show_default=False,
        ),
    ] = None,
    reviews: Annotated[
        Path | None,
        typer.Option(
            "--reviews",
            help="Your team's reviews (CSV: name,version,verdict,reason,reviewer,date[,until]):"
            " a benign review silences that version's risk flag, reported as reviewed."
            " Default: config reviews.",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        ReportFormat,
        typer.Option(
            "--format",
            help="text, json, sarif (2.1.0), markdown (a PR comment) or html (one"
            " self-contained file).",
        ),
    ] = ReportFormat.TEXT,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            help="Write the report to this file (replaced atomically) instead of stdout.",
            show_default=False,
        ),
    ] = None,
) -> None:
    from scorer.errors import ConfigError
    from scorer.report.risk import render
    from scorer.risk import ReportOptions, run_report, stopwatch

    if osv and compromised:
        raise ConfigError("--osv and --compromised exclude each other: choose one mode")
    # PROVSCORE_TIMINGS=1 prints seconds per stage to stderr (bench/bench_report.py reads it).
    timings: dict[str, float] | None = {} if os.environ.get("PROVSCORE_TIMINGS") else None
    result = run_report(
        ReportOptions(
            lockfile=_resolve_lockfile(lockfile),
            online=osv,
            db=db,
            policy=policy,
            osv_url=osv_url,
            registry=registry,
            insights_url=insights_url,
            offline=offline,
            snapshot=snapshot,
            cache_dir=cache_dir,
            scorer=scorer,
            model=model,
            weights=weights,
            now=_parse_now(now),
            risk_warn=risk_warn,
            risk_error=risk_error,
            risk_policy=risk_policy,
            strict=strict,
            diff=diff,
            reviews=reviews,
            timeout=timeout,
        ),
        timings=timings,
        progress=_progress("fetching registry documents"),
    )
    _lockfile_warnings(result.lockfile)
    if result.diff is not None:
        _lockfile_warnings(result.diff.old)
    lap = stopwatch(timings)
    if output is not None:
        from scorer.atomic import write_atomic

        try:
            write_atomic(output, render(result, fmt, pretty=True))
        except OSError as exc:  # a directory, no permission, a full disk: exit 2, no traceback
            raise InputError(output, f"cannot write the report: {exc.strerror or exc}") from None
        typer.echo(f"provscore: report written to {safe(str(output))}", err=True)
    else:
        sys.stdout.write(render(result, fmt, pretty=_pretty()))
    if timings is not None:
        import json

        sys.stdout.flush()
        lap("render")
        typer.echo("provscore timings: " + json.dumps(timings), err=True)
    _exit(result.exit_code)


TRAIN_HELP = "\n\n".join(
    [
        "Train the trained scorer from labelled rows (and your team's reviews), with a model card.",
        "Fits a logistic regression (written as JSON, scored with numpy alone) and a monotone"
        " gradient-boosting model it is compared with; cross-validates both grouped by package,"
        " repeated, and writes NAME.json, NAME.card.json and NAME.card.md (and NAME.skops with"
        " --save-tree). Needs the train extra: pip install 'provscore[train]'.",
        "Exit codes: 0 trained; 2 bad input, option or configuration.",
    ]
)


@app.command("train", help=TRAIN_HELP)
def train(
    data: Annotated[
        Path,
        typer.Option("--data", help="Training rows (CSV, e.g. data/training/rows.csv)."),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", help="Where to write the model: models/NAME writes NAME.json etc."),
    ],
    reviews: Annotated[
        Path | None,
        typer.Option(
            "--reviews",
            help="Your team's reviews (CSV, see the README) to add as labelled rows; features"
            " are recomputed offline from --snapshot or --cache-dir.",
            show_default=False,
        ),
    ] = None,
    snapshot: Annotated[
        Path | None,
        typer.Option(
            "--snapshot",
            help="The snapshot the reviewed versions were reported from (read offline).",
            show_default=False,
        ),
    ] = None,
    cache_dir: CacheDirOpt = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights",
            help="Weights whose points the fixed features take (default: the shipped"
            " weights.toml).",
            show_default=False,
        ),
    ] = None,
    folds: Annotated[int, typer.Option("--folds", help="Cross-validation folds.")] = 5,
    repeats: Annotated[
        int, typer.Option("--repeats", help="Cross-validation repeats (new shuffles).")
    ] = 10,
    save_tree: Annotated[
        bool, typer.Option("--save-tree", help="Also write the tree model as NAME.skops.")
    ] = False,
) -> None:
    _require("sklearn", "skops", extra="train")
    from scorer.train import run_train

    run_train(
        data,
        out=out,
        reviews=reviews,
        snapshot=snapshot,
        cache_dir=cache_dir,
        weights=weights,
        folds=folds,
        repeats=repeats,
        save_tree_model=save_tree,
        echo=typer.echo,
    )


db_app = typer.Typer(
    help="The local OSV database: update it from the OSV archive, show what it holds.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")


@db_app.command("update")
def db_update(
    db: DbOpt = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="The OSV all.zip to download (a mirror's, say). Default: the OSV project's"
            " npm archive.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Download the OSV archive when it changed, verify every record, replace the database
    atomically and rebuild its index. A failed update leaves the old database working."""
    from scorer.osv.update import run_update

    sys.stdout.write(run_update(db, source))


@db_app.command("info")
def db_info(db: DbOpt = None) -> None:
    """Show what the local database holds: records, newest modified, source and age."""
    from scorer.osv.update import run_info

    sys.stdout.write(run_info(db))


VERIFY_HELP = "\n\n".join(
    [
        "Verify every locked registry version: its bytes, its signature, its provenance and"
        " its origin.",
        "integrity: the lockfile's integrity against the registry's. signature: the registry's"
        " ECDSA signature, with the key valid when the version was published. provenance: the"
        " attestations name this package and these bytes (Sigstore bundles verified where the"
        " sigstore library can). origin: the resolved URL against the registry configured for"
        " the package's scope. Each check is verified, failed, or unverifiable with why.",
        "Exit codes: 0 nothing at error level; 1 a failed check under policy error; 2 bad"
        " input, option or configuration.",
    ]
)


@app.command("verify", help=VERIFY_HELP)
def verify(
    lockfile: LockfileArg = None,
    registry: RegistryOpt = None,
    offline: Annotated[
        bool | None,
        typer.Option(
            "--offline/--no-offline",
            help="Read documents, keys and attestations only from the cache (default: config"
            " offline, else online).",
            show_default=False,
        ),
    ] = None,
    cache_dir: CacheDirOpt = None,
    fmt: Annotated[
        VerifyFormat,
        typer.Option("--format", help="text, json, sarif (2.1.0) or markdown (a PR comment)."),
    ] = VerifyFormat.TEXT,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            help="error, warn or off. Default: $PROVSCORE_VERIFY_POLICY, then config"
            " verify_policy, then error.",
            show_default=False,
        ),
    ] = None,
) -> None:
    from scorer.report.verify import render
    from scorer.verify import VerifyOptions, run_verify

    # PROVSCORE_TIMINGS=1 prints seconds per stage and check to stderr (bench_verify reads it).
    timings: dict[str, float] | None = {} if os.environ.get("PROVSCORE_TIMINGS") else None
    result = run_verify(
        VerifyOptions(
            lockfile=_resolve_lockfile(lockfile),
            registry=registry,
            offline=offline,
            cache_dir=cache_dir,
            policy=policy,
        ),
        timings=timings,
    )
    _lockfile_warnings(result.lockfile)
    sys.stdout.write(render(result, fmt, pretty=_pretty()))
    if timings is not None:
        import json

        typer.echo("provscore timings: " + json.dumps(timings), err=True)
    _exit(result.exit_code)


insights_app = typer.Typer(
    help="Publication context: who published each version, how, and when.", no_args_is_help=True
)
app.add_typer(insights_app, name="insights")


@insights_app.command("show")
def insights_show(
    spec: Annotated[str, typer.Argument(help="The package version, as NAME@VERSION.")],
    fmt: Annotated[
        PublicationFormat, typer.Option("--format", help="text or json.")
    ] = PublicationFormat.TEXT,
    registry: RegistryOpt = None,
    insights_url: InsightsUrlOpt = None,
    offline: OfflineOpt = False,
    snapshot: SnapshotOpt = None,
    lockfile: Annotated[
        Path | None,
        typer.Option(
            "--lockfile",
            help="Use this lockfile's resolved URLs to choose the registry when no option, "
            "environment variable or .npmrc names one.",
            show_default=False,
        ),
    ] = None,
    cache_dir: CacheDirOpt = None,
) -> None:
    """Print the merged publication record of one version: each fact with its source."""
    from scorer.config import find_config
    from scorer.gather import show

    config = find_config(lockfile.parent if lockfile else Path.cwd())
    if insights_url or os.environ.get("PROVSCORE_INSIGHTS_URL") or config.get_str("insights_url"):
        _require("gql", "graphql")
    out = show(
        spec,
        fmt=fmt,
        registry_url=registry,
        insights_url=insights_url,
        project_dir=Path.cwd(),
        cache_dir=cache_dir,
        snapshot_dir=snapshot,
        offline=offline,
        echo=lambda line: typer.echo(f"provscore: {line}", err=True),
        lockfile=lockfile,
        config_insights_url=config.get_str("insights_url"),
        pretty=_pretty(),
        config_registry=config.get_str("registry"),
    )
    sys.stdout.write(out if out.endswith("\n") else out + "\n")


@insights_app.command("serve")
def insights_serve(
    data: Annotated[
        list[Path],
        typer.Option(
            "--data",
            help="Publication records, JSON or CSV (name, version, username, created, "
            "tor, tfa). Repeat to serve several files.",
        ),
    ],
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on; 0 picks a free one.")
    ] = 8000,
) -> None:
    """Serve the insights GraphQL schema over HTTP (POST /graphql) from local records."""
    _require("ariadne", "uvicorn", "graphql")
    from scorer.insights.server import serve

    serve(data, host=host, port=port, echo=lambda line: typer.echo(line, err=False))
