"""Fault campaign: the real CLI, in child processes, against a fault-injecting server (issue 9).

Each run starts its own `tests/fault_server.py` (OSV API, registry documents and the insights
GraphQL endpoint, served from the constructed data below) with a fault mix drawn from the seed,
and runs one command in a fresh `python -m scorer`:
`audit --osv` (JSON out), `audit --osv --write FILE` (a private file, or the shared database),
`audit --osv --write-cache` (the shared database as the user-wide one) or `report` with registry
and insights (sometimes `--osv`, sometimes `--strict`), each server picked the ways a user can
pick it (option, environment, .npmrc, provscore.toml, the lockfile's resolved URLs). Some units
are bursts of writers started together on the shared database; some runs are SIGKILLed mid-run.
A watchdog stops a run that outlives its --timeout plus GRACE seconds, a hang: SIGABRT first, so
that faulthandler prints where each of its threads was, then SIGKILL.

Checked per run, against exactly the faults its server injected:
- crash: a traceback on stderr, or death by a signal nobody sent;
- wrong exit: 0/1 only when every needed answer was good in the end (the last answer on every
  OSV path the run asked; under --strict every registry and insights answer too), with the
  findings the data implies and the exit code they imply; 3 only when a fault was injected on
  a source the command must fail closed on, naming it (or the deadline that the faults spent);
  anything else is wrong;
- wrong answer: a finding or a fact that differs from the fault-free baseline, a fact missing
  without being reported unknown, or a fact kept from an answer that was never good;
- a private database written although the run failed, or missing what a successful run merged.
After the campaign the shared database must parse and hold every record it held before plus
every record any successful run merged, each no older than merged and none forged (records lost
and records wrong must be 0), and no temporary or lock file may be left next to any database.

Run: python bench/faults.py [--runs N] [--seed S] [--timeout T] [--jobs J] [--only INDEX]
     [--json FILE] [--workdir DIR]
Prints one table; exits 1 on any crash, hang, wrong exit, wrong answer, lost or wrong record or
leftover file. `--only INDEX` replays one run of the same seed (a reproduction).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fault_server import FAULT_KINDS, HARMLESS, FaultServer, Schedule, Served  # noqa: E402
from osv_server import affects  # noqa: E402

GRACE = 10.0  # seconds a run may outlive its --timeout before the watchdog calls it a hang
NOW = "2026-06-01T12:00:00Z"
COMMANDS = ("audit", "audit-write", "audit-write-cache", "report")
SOURCES = ("osv", "registry", "insights")
# A report fact and the feature that is reported unknown when the fact is missing.
FACT_FEATURE = {"tor": "tor", "tfa": "no_2fa"}
REGISTRY_FEATURE = "install_script_added"


# --- the data ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Data:
    """What the fault server serves and what the shared database holds before the campaign."""

    names: tuple[str, ...]
    versions: dict[str, tuple[str, ...]]
    registry: dict[str, dict[str, Any]]
    insights: dict[tuple[str, str], dict[str, Any]]
    osv: dict[str, dict[str, Any]]  # the server's records, by id
    initial: dict[str, dict[str, Any]]  # the shared database before the campaign, by id


def expected_ids(
    records: Mapping[str, Mapping[str, Any]], pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], set[str]]:
    """Per locked version, the records that report it (what an audit of them must find)."""
    return {(n, v): {i for i, r in records.items() if affects(r, n, v)} for n, v in pairs}


def run_records(index: int, data: Data) -> dict[str, dict[str, Any]]:
    """Records only writer `index` is served: a new one for a package of its own and, for one
    writer in three, a newer copy of a record the shared database holds. So every successful
    merge adds (and some update) records, and concurrent writers really rewrite the file."""
    own = f"flt-run-{index:05d}"
    ident = f"MAL-2026-R{index:05d}"
    records = {ident: _record(ident, own, ["1.0.0"], "2026-01-01T00:00:00Z")}
    if index % 3 == 0:
        filler = sorted(data.initial)[10 + index % (len(data.initial) - 12)]
        stamp = f"2025-03-01T00:{index // 60 % 60:02d}:{index % 60:02d}Z"
        records[filler] = {**data.initial[filler], "modified": stamp}
    return records


def run_pairs(index: int, data: Data) -> list[tuple[str, str]]:
    """The locked versions that writer `index`'s own records report."""
    pairs = []
    for record in run_records(index, data).values():
        for affected in record["affected"]:
            pairs += [(affected["package"]["name"], v) for v in affected["versions"]]
    return pairs


def _time(day: int) -> str:
    return f"2025-{1 + day // 28:02d}-{1 + day % 28:02d}T10:00:00.000Z"


def _packument(name: str, index: int) -> dict[str, Any]:
    """A constructed registry document: 1.0.0 then 1.1.0 (and 2.0.0 for some). Which fact
    changes at the last version depends on `index`: a publisher change, an install script
    added, provenance lost, or nothing."""
    base = name.rsplit("/", 1)[-1]
    versions: dict[str, Any] = {}
    times = {"created": _time(index), "modified": _time(index + 60)}
    numbers = ["1.0.0", "1.1.0"] + (["2.0.0"] if index % 3 == 0 else [])
    for step, version in enumerate(numbers):
        last = step == len(numbers) - 1
        user = {"name": f"maint-{index}", "email": f"maint-{index}@mail.example.invalid"}
        manifest: dict[str, Any] = {
            "name": name,
            "version": version,
            "scripts": {"test": "node test.js"},
            "maintainers": [user],
            "_npmUser": dict(user),
            "dist": {
                "tarball": f"https://registry.example.invalid/{name}/-/{base}-{version}.tgz",
                "shasum": f"{index:02d}{step:02d}" + "0" * 36,
                "integrity": "sha512-" + "A" * 86 + "==",
            },
        }
        if last and index % 4 == 1:
            manifest["_npmUser"] = {"name": "newcomer", "email": "new@mail.example.invalid"}
        if last and index % 4 == 2:
            manifest["scripts"]["postinstall"] = "node collect.js"
        if index % 4 == 3 and not last:
            manifest["dist"]["attestations"] = {
                "url": f"https://registry.example.invalid/-/npm/v1/attestations/{name}@{version}",
                "provenance": {"predicateType": "https://slsa.dev/provenance/v1"},
            }
        versions[version] = manifest
        times[version] = _time(index + 20 * step)
    return {
        "_id": name,
        "name": name,
        "dist-tags": {"latest": numbers[-1]},
        "versions": versions,
        "time": times,
        "maintainers": [{"name": f"maint-{index}", "email": f"maint-{index}@mail.example.invalid"}],
        "_provscore_constructed": "synthetic document for bench/faults.py",
    }


def _record(ident: str, name: str, versions: list[str], modified: str, **extra: Any) -> dict:
    return {
        "id": ident,
        "modified": modified,
        "published": "2025-01-01T00:00:00Z",
        "summary": f"Malicious code in {name} (constructed)",
        "affected": [{"package": {"ecosystem": "npm", "name": name}, "versions": versions}],
        "database_specific": {"malicious-packages-origins": [{"source": "constructed"}]},
        **extra,
    }


def build_data(packages: int = 10, fillers: int = 3000) -> Data:
    """The campaign's data: `packages` names (one scoped) with their documents, insights
    answers and OSV records, and a shared database of `fillers` unrelated records plus older
    copies of some server records (so merges both add and update)."""
    names = tuple(f"flt-pkg-{i:02d}" if i != 0 else "@flt/scoped-pkg" for i in range(packages))
    registry = {name: _packument(name, i) for i, name in enumerate(names)}
    versions = {name: tuple(registry[name]["versions"]) for name in names}
    insights: dict[tuple[str, str], dict[str, Any]] = {}
    for i, name in enumerate(names):
        for version in versions[name]:
            last = version == versions[name][-1]
            insights[(name, version)] = {
                "username": registry[name]["versions"][version]["_npmUser"]["name"],
                "created": registry[name]["time"][version],
                "tor": last and i % 5 == 2,
                "tfa": not (last and i % 5 == 4),
            }
    osv: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        if i % 2 == 0:  # the last version of every other package is malicious
            ident = f"MAL-2025-F{i:03d}"
            extra = {"aliases": [f"GHSA-flt{i:02d}-0000-0000"]} if i % 4 == 0 else {}
            osv[ident] = _record(ident, name, [versions[name][-1]], "2025-06-01T00:00:00Z", **extra)
    # One more incident on the first package, and a withdrawn record querybatch never reports.
    first = names[0]
    osv["MAL-2025-F900"] = _record(first, first, [versions[first][-1]], "2025-06-02T00:00:00Z")
    osv["MAL-2025-F900"]["id"] = "MAL-2025-F900"
    osv["MAL-2025-F901"] = _record(
        "MAL-2025-F901", names[1], [versions[names[1]][0]], "2025-06-03T00:00:00Z",
        withdrawn="2025-06-04T00:00:00Z",
    )  # fmt: skip
    initial = {
        f"MAL-2024-Z{i:04d}": _record(
            f"MAL-2024-Z{i:04d}", f"flt-filler-{i}", ["0.0.1"], "2024-05-01T00:00:00Z"
        )
        for i in range(fillers)
    }
    for ident in sorted(osv)[:2]:  # older copies: a successful merge updates them
        initial[ident] = {**osv[ident], "modified": "2025-01-01T00:00:00Z"}
    return Data(names, versions, registry, insights, osv, initial)


def write_lockfile(directory: Path, pairs: list[tuple[str, str]], registry: str | None) -> Path:
    """A package-lock.json v3; entries resolve from `registry` when given (so the registry is
    derived from the lockfile), else carry no resolved URL."""
    packages: dict[str, Any] = {"": {"name": "app", "version": "1.0.0"}}
    for name, version in pairs:
        entry: dict[str, Any] = {"version": version}
        if registry is not None:
            base = name.rsplit("/", 1)[-1]
            entry["resolved"] = f"{registry.rstrip('/')}/{name}/-/{base}-{version}.tgz"
        packages[f"node_modules/{name}"] = entry
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "package-lock.json"
    path.write_text(json.dumps({"name": "app", "lockfileVersion": 3, "packages": packages}))
    return path


# --- the runs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    """One run, fully decided by the campaign seed (so `--only INDEX` replays it)."""

    index: int
    seed: int
    command: str  # one of COMMANDS
    pairs: tuple[tuple[str, str], ...]  # the lockfile's (name, version)
    rate: float
    kinds: tuple[str, ...]
    timeout: float
    shared: bool = False  # writes the shared database (audit-write, audit-write-cache)
    strict: bool = False
    osv: bool = False  # report --osv
    kill_after: float | None = None
    osv_via: str = "option"  # option, env
    registry_via: str = "option"  # option, env, npmrc, config, lockfile
    insights_via: str = "option"  # option, env, config
    timeout_via: str = "option"  # option, env, config
    burst: int | None = None

    @property
    def writes(self) -> bool:
        return self.command in ("audit-write", "audit-write-cache")

    @property
    def online_osv(self) -> bool:
        return self.command != "report" or self.osv

    def describe(self) -> str:
        extra = [
            f"--osv-url via {self.osv_via}" if self.online_osv else "",
            "shared db" if self.shared else "",
            "--strict" if self.strict else "",
            "--osv" if self.osv else "",
            f"registry via {self.registry_via}" if self.command == "report" else "",
            f"insights via {self.insights_via}" if self.command == "report" else "",
            f"killed at {self.kill_after:.2f} s" if self.kill_after is not None else "",
            f"burst {self.burst}" if self.burst is not None else "",
        ]
        kinds = "all kinds" if set(self.kinds) == set(FAULT_KINDS) else ",".join(self.kinds)
        return (
            f"run {self.index}: {self.command} ({', '.join(e for e in extra if e)});"
            f" fault rate {self.rate:g} of {kinds}; {len(self.pairs)} packages"
        )


def plan_runs(seed: int, runs: int, timeout: float, data: Data) -> list[list[RunSpec]]:
    """The campaign: `runs` runs in units (a single run, or a burst of 2-4 writers of the shared
    database started together), all drawn from `seed`."""
    rng = random.Random(seed)
    units: list[list[RunSpec]] = []
    index = 0
    while index < runs:
        burst = rng.random() < 0.12 and runs - index >= 2
        size = min(rng.randint(2, 4), runs - index) if burst else 1
        unit = []
        for _ in range(size):
            unit.append(_one_run(rng, index, timeout, data, burst=len(units) if burst else None))
            index += 1
        if burst and rng.random() < 0.6:  # one writer killed while the others write
            victim = rng.randrange(len(unit))
            unit[victim] = replace(unit[victim], kill_after=round(rng.uniform(0.2, 2.0), 2))
        units.append(unit)
    return units


def _one_run(
    rng: random.Random, index: int, timeout: float, data: Data, burst: int | None
) -> RunSpec:
    if burst is not None:
        command = rng.choice(["audit-write", "audit-write-cache"])
    else:
        command = rng.choices(COMMANDS, weights=[3, 3, 2, 4])[0]
    names = rng.sample(data.names, rng.randint(2, len(data.names)))
    chosen = [(n, rng.choice(data.versions[n])) for n in names]
    if command in ("audit-write", "audit-write-cache"):
        chosen += run_pairs(index, data)
    pairs = tuple(sorted(chosen))
    rate = rng.choice([0.0, 0.05, 0.15, 0.3, 0.3, 0.5, 0.8])
    # Often a few kinds only, so that every kind is also seen alone and repeated.
    kinds = FAULT_KINDS if rng.random() < 0.4 else tuple(rng.sample(FAULT_KINDS, rng.randint(1, 4)))
    writes = command in ("audit-write", "audit-write-cache")
    shared = command == "audit-write-cache" or (
        writes and (burst is not None or rng.random() < 0.6)
    )
    kill = burst is None and rng.random() < (0.1 if writes else 0.04)  # bursts: see plan_runs
    return RunSpec(
        index=index,
        seed=rng.randrange(2**32),
        command=command,
        pairs=pairs,
        rate=rate,
        kinds=kinds,
        timeout=timeout,
        shared=shared,
        strict=command == "report" and rng.random() < 0.4,
        osv=command == "report" and rng.random() < 0.35,
        kill_after=round(rng.uniform(0.1, 2.5), 2) if kill else None,
        osv_via=rng.choice(["option", "env"]),
        registry_via=rng.choice(["option", "env", "npmrc", "config", "lockfile"]),
        insights_via=rng.choice(["option", "env", "config"]),
        timeout_via=rng.choice(["option", "option", "env", "config"]),
        burst=burst,
    )


@dataclass
class Outcome:
    """What one run did, and what its server saw."""

    spec: RunSpec
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    started: float
    ended: float
    killed: bool  # deliberately, by the campaign
    hung: bool  # by the watchdog
    served: list[Served]
    faults: Counter[str]
    private: Path | None = None  # the private database written, if any
    private_before: bytes | None = None
    cpu: float = 0.0  # the run's user + system CPU seconds
    rss_mb: float = 0.0  # its peak resident memory


@dataclass(frozen=True)
class Problem:
    category: str  # crash, hang, wrong exit, wrong answer, leftover, records
    run: int | None
    detail: str


@dataclass
class Campaign:
    """Shared state of one campaign: where it works and what it has seen."""

    data: Data
    work: Path
    shared_db: Path
    static_db: Path
    baseline: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def records(self, spec: RunSpec) -> dict[str, dict[str, Any]]:
        """The OSV records run `spec`'s server holds."""
        if spec.writes:
            return {**self.data.osv, **run_records(spec.index, self.data)}
        return self.data.osv


def _child_env(home: Path) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PROVSCORE_", "NPM_CONFIG_", "npm_config_", "XDG_"))
    }
    return {
        **base,
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONFAULTHANDLER": "1",  # a hung run's stacks, when the watchdog sends SIGABRT
    }


def command_line(
    spec: RunSpec, server: FaultServer, campaign: Campaign, run_dir: Path
) -> tuple[list[str], dict[str, str], Path | None]:
    """argv, environment and the private database (when the run writes one) of a run, with its
    files (lockfile, .npmrc, provscore.toml) written into `run_dir`."""
    app = run_dir / "app"
    home = run_dir / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = _child_env(home)
    config: list[str] = []
    resolved = server.registry_url if spec.registry_via == "lockfile" else None
    lock = write_lockfile(app, list(spec.pairs), resolved)
    args = [sys.executable, "-m", "scorer"]
    timeout = f"{spec.timeout:g}"
    if spec.timeout_via == "option":
        args_timeout = ["--timeout", timeout]
    else:
        args_timeout = []
        if spec.timeout_via == "env":
            env["PROVSCORE_TIMEOUT"] = timeout
        else:
            config.append(f"timeout = {timeout}")
    osv_args: list[str] = []
    if spec.online_osv:
        osv_args = ["--osv"]
        if spec.osv_via == "option":
            osv_args += ["--osv-url", server.osv_url]
        else:
            env["PROVSCORE_OSV_URL"] = server.osv_url
    private = None
    if spec.command == "report":
        args += ["report", str(lock), "--format", "json", "--now", NOW, *osv_args]
        if not spec.osv:
            args += ["--db", str(campaign.static_db)]
        if spec.strict:
            args.append("--strict")
        registry = server.registry_url
        if spec.registry_via == "option":
            args += ["--registry", registry]
        elif spec.registry_via == "env":
            env["NPM_CONFIG_REGISTRY"] = registry
        elif spec.registry_via == "npmrc":
            (app / ".npmrc").write_text(f"registry={registry}\n")
        elif spec.registry_via == "config":
            config.append(f"registry = {json.dumps(registry)}")
        insights = server.insights_url
        if spec.insights_via == "option":
            args += ["--insights-url", insights]
        elif spec.insights_via == "env":
            env["PROVSCORE_INSIGHTS_URL"] = insights
        else:
            config.append(f"insights_url = {json.dumps(insights)}")
    else:
        args += ["audit", str(lock), "--format", "json", *osv_args]
        if spec.command == "audit-write":
            target = campaign.shared_db if spec.shared else run_dir / "db" / "project.json"
            if not spec.shared:
                private = target
                target.parent.mkdir(parents=True, exist_ok=True)
                seeds = sorted(campaign.data.initial)[:2]
                target.write_text(json.dumps([campaign.data.initial[i] for i in seeds]))
            args += ["--write", str(target)]
        elif spec.command == "audit-write-cache":
            args.append("--write-cache")
            env["PROVSCORE_COMPROMISED_DB"] = str(campaign.shared_db)
    if config:
        (app / "provscore.toml").write_text("\n".join(config) + "\n")
    return args + args_timeout, env, private


def run_unit(unit: list[RunSpec], campaign: Campaign) -> list[Outcome]:
    """Start every run of the unit at once (a burst writes the shared database together), then
    wait for each under its watchdog."""
    started = []
    for spec in unit:
        run_dir = campaign.work / "runs" / f"{spec.index:05d}"
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        data = campaign.data
        server = FaultServer(
            osv=campaign.records(spec),
            registry=data.registry,
            insights=data.insights,
            schedule=Schedule(spec.seed, spec.rate, spec.kinds),
        ).start()
        args, env, private = command_line(spec, server, campaign, run_dir)
        before = private.read_bytes() if private is not None else None
        out = (run_dir / "stdout").open("wb")
        err = (run_dir / "stderr").open("wb")
        begin = time.monotonic()
        proc = subprocess.Popen(args, cwd=run_dir / "app", env=env, stdout=out, stderr=err)
        out.close()
        err.close()
        killed = threading.Event()

        def kill(proc: subprocess.Popen[bytes] = proc, killed: threading.Event = killed) -> None:
            # Reaping is the wait loop's (os.wait4): a run that ended just before is not
            # counted as killed, since its exit status is its own.
            if proc.returncode is None:
                killed.set()
                os.kill(proc.pid, signal.SIGKILL)  # Popen.send_signal would reap it first

        timer = None
        if spec.kill_after is not None:
            timer = threading.Timer(spec.kill_after, kill)
            timer.start()
        started.append((spec, server, proc, begin, timer, killed, run_dir, private, before))
    ends = _wait_all([(item[2], item[3], item[0].timeout + GRACE) for item in started])
    outcomes = []
    for (spec, server, proc, begin, timer, killed, run_dir, private, before), done in zip(
        started, ends, strict=True
    ):
        end, cpu, rss_mb, hung = done
        if timer is not None:
            timer.cancel()
        server.stop()
        post_mortem = {
            "run": spec.describe(),
            "args": proc.args,
            "exit": proc.returncode,
            "seconds": round(end - begin, 2),
            "cpu_seconds": round(cpu, 2),
            "peak_rss_mb": round(rss_mb),
            "served": [[s.method, s.path, s.fault] for s in server.served],
        }
        (run_dir / "run.json").write_text(json.dumps(post_mortem, indent=1, default=str))
        outcomes.append(
            Outcome(
                spec=spec,
                returncode=proc.returncode,
                stdout=(run_dir / "stdout").read_text(errors="replace"),
                stderr=(run_dir / "stderr").read_text(errors="replace"),
                seconds=end - begin,
                started=begin,
                ended=end,
                killed=killed.is_set() and proc.returncode == -signal.SIGKILL and not hung,
                hung=hung,
                cpu=cpu,
                rss_mb=rss_mb,
                served=list(server.served),
                faults=Counter(server.faults_by_kind()),
                private=private,
                private_before=before,
            )
        )
    return outcomes


def _wait_all(
    runs: list[tuple[subprocess.Popen[bytes], float, float]],
) -> list[tuple[float, float, float, bool]]:
    """Wait for every (process, start, limit) at once, so that each run's end is its own;
    per run: (end, CPU seconds, peak RSS in MB, hung). A run past its limit is a hang: it is
    sent SIGABRT first, so that faulthandler (PYTHONFAULTHANDLER) prints where every thread
    was, and SIGKILL 3 s later. Only this loop reaps the processes (os.wait4, for their CPU
    time), so signals go through os.kill: Popen's own methods would reap them too."""
    results: dict[int, tuple[float, float, float, bool]] = {}
    aborted: dict[int, float] = {}
    while len(results) < len(runs):
        for i, (proc, begin, limit) in enumerate(runs):
            if i in results:
                continue
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            now = time.monotonic()
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                cpu = usage.ru_utime + usage.ru_stime
                results[i] = (now, cpu, usage.ru_maxrss / 1024, i in aborted)
            elif i not in aborted and now > begin + limit:
                aborted[i] = now
                os.kill(proc.pid, signal.SIGABRT)
            elif i in aborted and now > aborted[i] + 3:
                os.kill(proc.pid, signal.SIGKILL)
        time.sleep(0.02)
    return [results[i] for i in range(len(runs))]


# --- the checks --------------------------------------------------------------------------------


def ruined(served: Iterable[Served], api: str) -> set[str]:
    """The paths of `api` whose last answer in the run was not a good one."""
    last: dict[str, str | None] = {}
    for item in served:
        if item.api == api:
            last[item.path] = item.fault
    return {p for p, fault in last.items() if fault is not None and fault not in HARMLESS}


def faulted(served: Iterable[Served], api: str) -> bool:
    return any(item.api == api and item.fault is not None for item in served)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def check_run(outcome: Outcome, campaign: Campaign) -> list[Problem]:
    """Everything one run did wrong (see the module docstring)."""
    spec, code, err = outcome.spec, outcome.returncode, outcome.stderr
    problems: list[Problem] = []

    def problem(category: str, detail: str) -> None:
        problems.append(Problem(category, spec.index, detail))

    if outcome.hung:
        stacks = " | ".join(line.strip() for line in err.splitlines() if 'File "' in line)
        problem(
            "hang",
            f"still running {spec.timeout + GRACE:g} s after it started, {outcome.cpu:.1f} s"
            f" of CPU; stacks: {stacks[-1500:]}",
        )
        return problems
    if "Traceback (most recent call last)" in err:
        problem("crash", "traceback: " + err.strip().splitlines()[-1][:300])
        return problems
    if outcome.killed:
        return problems  # no exit to judge; the database checks still cover what it wrote
    if code is None or code < 0 or code > 3:
        problem("crash", f"exit {code}: {err.strip()[-300:]}")
        return problems
    if spec.command == "report":
        problems += _check_report(outcome, campaign)
    else:
        problems += _check_audit(outcome, campaign)
    if outcome.private is not None:
        problems += _check_private(outcome, campaign)
    return problems


def _findings_ids(doc: Any) -> dict[tuple[str, str], set[str]] | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list):
        return None
    found: dict[tuple[str, str], set[str]] = {}
    for f in doc["findings"]:
        found.setdefault((f["package"], f["version"]), set()).update(f["ids"])
    return found


def _check_audit(outcome: Outcome, campaign: Campaign) -> list[Problem]:
    spec, code, err = outcome.spec, outcome.returncode, outcome.stderr
    index = spec.index
    bad = ruined(outcome.served, "osv")
    if code == 3:
        if not faulted(outcome.served, "osv"):
            return [Problem("wrong exit", index, f"exit 3 with no fault injected: {err[-300:]}")]
        if "OSV API" not in err or "/osv/v1/" not in err:
            return [Problem("wrong exit", index, f"exit 3 not naming the request: {err[-300:]}")]
        return []
    if code not in (0, 1):
        return [Problem("wrong exit", index, f"exit {code}: {err.strip()[-300:]}")]
    if bad:
        return [
            Problem(
                "wrong exit",
                index,
                f"exit {code} though the last answer on {sorted(bad)[:3]} was a fault",
            )
        ]
    doc = _json(outcome.stdout)
    found = _findings_ids(doc)
    if found is None:
        return [Problem("wrong answer", index, "no JSON audit report on stdout")]
    problems = []
    records = campaign.records(spec)
    expected = expected_ids(records, spec.pairs)
    for pair, ids in expected.items():
        got = found.get(pair, set()) & set(records)
        if got != ids:
            problems.append(
                Problem(
                    "wrong answer", index, f"{pair}: found {sorted(got)}, expected {sorted(ids)}"
                )
            )
    want = 1 if any(expected.values()) else 0
    if code != want:
        problems.append(Problem("wrong exit", index, f"exit {code}, findings imply {want}"))
    return problems


def _check_private(outcome: Outcome, campaign: Campaign) -> list[Problem]:
    spec, path = outcome.spec, outcome.private
    assert path is not None
    after = path.read_bytes() if path.exists() else None
    if outcome.returncode in (0, 1):
        records = _records(after) if after is not None else None
        if records is None:
            return [Problem("records", spec.index, f"{path} does not parse after a good run")]
        want = set(sorted(campaign.data.initial)[:2]) | {
            i for ids in expected_ids(campaign.records(spec), spec.pairs).values() for i in ids
        }
        if not want <= set(records):
            missing = sorted(want - set(records))
            return [Problem("records", spec.index, f"{path} lacks {missing}")]
        return []
    if after != outcome.private_before:
        return [
            Problem(
                "records", spec.index, f"{path} changed by a run that exited {outcome.returncode}"
            )
        ]
    return []


def _report_entries(doc: Any) -> dict[tuple[str, str], dict[str, Any]] | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("packages"), list):
        return None
    return {(p["name"], p["version"]): p for p in doc["packages"]}


def _check_report(outcome: Outcome, campaign: Campaign) -> list[Problem]:
    spec, code, err = outcome.spec, outcome.returncode, outcome.stderr
    index = spec.index
    served = outcome.served
    fails_closed = [api for api in SOURCES if _must_fail(spec, api)]
    if code == 3:
        hit = [api for api in fails_closed if faulted(served, api)]
        if not hit:
            return [
                Problem(
                    "wrong exit", index, f"exit 3 with no fault on {fails_closed}: {err[-300:]}"
                )
            ]
        names = {"osv": "OSV API", "registry": "registry", "insights": "insights"}
        # Named: a source that was given a fault, or any source when the run's deadline was
        # spent (a slow answer from one leaves the next without time).
        if not any(names[api] in err for api in hit) and "deadline" not in err:
            return [Problem("wrong exit", index, f"exit 3 not naming {hit}: {err[-300:]}")]
        return []
    if code not in (0, 1):
        return [Problem("wrong exit", index, f"exit {code}: {err.strip()[-300:]}")]
    for api in fails_closed:
        bad = ruined(served, api)
        if bad:
            return [
                Problem(
                    "wrong exit",
                    index,
                    f"exit {code} though the last {api} answer on {sorted(bad)[:3]} was a fault",
                )
            ]
    entries = _report_entries(_json(outcome.stdout))
    if entries is None:
        return [Problem("wrong answer", index, "no JSON report on stdout")]
    problems = []
    data = campaign.data
    if spec.osv:
        expected = expected_ids(data.osv, spec.pairs)
    else:
        expected = {pair: _static_ids(campaign, pair) for pair in spec.pairs}
    registry_bad = {p.removeprefix("/registry/") for p in ruined(served, "registry")}
    insights_bad = bool(ruined(served, "insights"))
    for pair in spec.pairs:
        entry = entries.get(pair)
        if entry is None:
            problems.append(Problem("wrong answer", index, f"{pair} missing from the report"))
            continue
        malicious = entry.get("malicious") or {}
        got = set(malicious.get("ids") or []) & (set(data.osv) | set(data.initial))
        if got != expected[pair]:
            problems.append(
                Problem(
                    "wrong answer",
                    index,
                    f"{pair}: malicious {sorted(got)}, expected {sorted(expected[pair])}",
                )
            )
        problems += _check_facts(
            index, pair, entry, campaign.baseline[pair], spec.strict,
            _escaped(pair[0]) in registry_bad, insights_bad,
        )  # fmt: skip
    want = 1 if any(expected.values()) else 0
    if code != want:
        problems.append(Problem("wrong exit", index, f"exit {code}, findings imply {want}"))
    return problems


def _must_fail(spec: RunSpec, api: str) -> bool:
    """Whether a report must fail closed (exit 3) when `api` could not answer."""
    if api == "osv":
        return spec.osv
    return spec.strict


def _escaped(name: str) -> str:
    return name.replace("/", "%2f")


def _static_ids(campaign: Campaign, pair: tuple[str, str]) -> set[str]:
    records = {**campaign.data.initial, **campaign.data.osv}
    return {i for i, r in records.items() if affects(r, *pair)}


def _check_facts(
    index: int,
    pair: tuple[str, str],
    entry: Mapping[str, Any],
    baseline: Mapping[str, Any],
    strict: bool,
    registry_ruined: bool,
    insights_ruined: bool,
) -> list[Problem]:
    problems = []
    facts = entry.get("facts") or {}
    unknown = {u["feature"]: u["why"] for u in entry.get("unknown") or []}
    for name, fact in facts.items():
        want = baseline.get(name)
        if want is None or fact["value"] != want["value"]:
            problems.append(
                Problem(
                    "wrong answer", index, f"{pair} {name} = {fact['value']!r}, baseline {want!r}"
                )
            )
        source = str(fact.get("source"))
        if (registry_ruined and "registry" in source) or (insights_ruined and "insights" in source):
            problems.append(
                Problem("wrong answer", index, f"{pair} {name} kept from a faulty {source} answer")
            )
    for name, fact in baseline.items():
        if name in facts:
            continue
        if strict:
            problems.append(Problem("wrong answer", index, f"{pair} {name} unknown under --strict"))
        feature = FACT_FEATURE.get(name, REGISTRY_FEATURE if "registry" in fact["source"] else None)
        if feature is not None and not unknown.get(feature):
            problems.append(
                Problem("wrong answer", index, f"{pair} {name} missing and {feature} not unknown")
            )
    return problems


# --- the shared database -----------------------------------------------------------------------


def _records(raw: bytes | None) -> dict[str, dict[str, Any]] | None:
    """A database file's records by id; None when it does not parse as one."""
    if raw is None:
        return None
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    if isinstance(document, dict):
        document = document.get("vulns", document.get("advisories"))
    if not isinstance(document, list) or not all(
        isinstance(r, dict) and isinstance(r.get("id"), str) for r in document
    ):
        return None
    return {r["id"]: r for r in document}


@dataclass(frozen=True)
class DatabaseCheck:
    before: int
    after: int | None  # None: the file does not parse
    lost: tuple[str, ...]  # ids held before or merged by a good run, missing or older now
    wrong: tuple[str, ...]  # ids whose record is neither a copy held before nor the server's
    leftovers: tuple[str, ...]  # temporary or lock files next to it


def check_database(
    path: Path,
    initial: Mapping[str, Mapping[str, Any]],
    served: Mapping[str, list[Mapping[str, Any]]],
    merged: Mapping[str, str],
) -> DatabaseCheck:
    """The shared database after the campaign against what it held before (`initial`), every
    copy of a record any writer was served (`served`, killed writers' included: they may have
    merged before dying) and, per id, the newest `modified` a successful writer merged
    (`merged`). Lost: an id held before or merged, missing, or older than merged. Wrong: a
    record that is neither a copy held before nor one a server sent."""
    final = _records(path.read_bytes() if path.exists() else None)
    leftovers = tuple(sorted(leftover_files(path.parent)))
    if final is None:
        return DatabaseCheck(len(initial), None, tuple(sorted(initial)), (), leftovers)
    lost = sorted(
        i
        for i in set(initial) | set(merged)
        if i not in final or (i in merged and str(final[i].get("modified")) < merged[i])
    )
    wrong = sorted(
        i for i, r in final.items() if r != initial.get(i) and r not in served.get(i, [])
    )
    return DatabaseCheck(len(initial), len(final), tuple(lost), tuple(wrong), leftovers)


def leftover_files(directory: Path) -> list[str]:
    """Temporary files of an atomic write, or lock files, left in `directory`."""
    if not directory.is_dir():
        return []
    return [
        p.name
        for p in directory.iterdir()
        if p.name.endswith((".tmp", ".lock")) or (p.name.startswith(".") and "tmp" in p.name)
    ]


# --- the campaign ------------------------------------------------------------------------------


def baseline(campaign: Campaign) -> dict[tuple[str, str], dict[str, Any]]:
    """Every version's report facts with no fault at all: what a faulty run must agree with
    (or report as unknown). One report per version layer; each must exit cleanly."""
    data = campaign.data
    out: dict[tuple[str, str], dict[str, Any]] = {}
    layers = max(len(v) for v in data.versions.values())
    for layer in range(layers):
        pairs = tuple(
            (n, data.versions[n][min(layer, len(data.versions[n]) - 1)]) for n in data.names
        )
        spec = RunSpec(-1 - layer, 0, "report", pairs, 0.0, FAULT_KINDS, 60.0, strict=True)
        (outcome,) = run_unit([spec], campaign)
        entries = _report_entries(_json(outcome.stdout))
        if outcome.returncode not in (0, 1) or entries is None:
            raise SystemExit(f"the fault-free baseline report failed: {outcome.stderr[-2000:]}")
        for pair in pairs:
            out[pair] = entries[pair]["facts"]
    return out


def prepare(work: Path, data: Data) -> Campaign:
    shared = work / "shared" / "compromised.json"
    shared.parent.mkdir(parents=True, exist_ok=True)
    shared.write_text(json.dumps({"vulns": [data.initial[i] for i in sorted(data.initial)]}))
    static = work / "static" / "db.json"
    static.parent.mkdir(parents=True, exist_ok=True)
    records = {**data.initial, **data.osv}
    static.write_text(json.dumps([records[i] for i in sorted(records)]))
    return Campaign(data, work, shared, static)


@dataclass
class Figures:
    runs: int = 0
    by_command: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    killed: int = 0
    concurrent_writers: int = 0
    problems: list[Problem] = field(default_factory=list)
    exits: Counter[str] = field(default_factory=Counter)
    longest: float = 0.0
    database: DatabaseCheck | None = None
    merged: int = 0
    wall: float = 0.0
    peak_rss_mb: float = 0.0

    def count(self, category: str) -> int:
        return sum(1 for p in self.problems if p.category == category)

    @property
    def failed(self) -> bool:
        db = self.database
        return (
            bool(self.problems)
            or db is None
            or bool(db.after is None or db.lost or db.wrong or db.leftovers)
        )

    def to_json(self) -> dict[str, Any]:
        db = self.database
        return {
            "runs": self.runs,
            "by_command": dict(self.by_command),
            "faults": dict(sorted(self.faults.items())),
            "faults_total": sum(self.faults.values()),
            "crashes": self.count("crash"),
            "hangs": self.count("hang"),
            "wrong_exits": self.count("wrong exit"),
            "wrong_answers": self.count("wrong answer"),
            "private_db_problems": self.count("records"),
            "runs_killed": self.killed,
            "concurrent_writers": self.concurrent_writers,
            "exits": dict(self.exits),
            "longest_run_s": round(self.longest, 2),
            "records_before": db.before if db else None,
            "records_after": db.after if db else None,
            "records_merged": self.merged,
            "records_lost": len(db.lost) if db else None,
            "records_wrong": len(db.wrong) if db else None,
            "leftover_files": list(db.leftovers) if db else None,
            "wall_s": round(self.wall, 1),
            "peak_child_rss_mb": round(self.peak_rss_mb, 1),
            "problems": [
                {"category": p.category, "run": p.run, "detail": p.detail} for p in self.problems
            ],
            "failed": self.failed,
        }


def run_campaign(
    *,
    runs: int,
    seed: int,
    timeout: float,
    jobs: int,
    work: Path,
    only: int | None = None,
    echo: Any = print,
) -> Figures:
    started = time.monotonic()
    data = build_data()
    campaign = prepare(work, data)
    campaign.baseline = baseline(campaign)
    units = plan_runs(seed, runs, timeout, data)
    if only is not None:
        units = [
            [replace(spec, burst=None)] for unit in units for spec in unit if spec.index == only
        ]
    figures = Figures()
    outcomes: list[Outcome] = []
    done = 0
    with ThreadPoolExecutor(jobs) as pool:
        futures = [pool.submit(run_unit, unit, campaign) for unit in units]
        try:
            for future in futures:
                unit_outcomes = future.result()
                for outcome in unit_outcomes:
                    outcomes.append(outcome)
                    done += 1
                    figures.problems += check_run(outcome, campaign)
                if done % 50 < len(unit_outcomes) and echo is not None:
                    total = sum(len(u) for u in units)
                    echo(f"  {done}/{total} runs, {len(figures.problems)} problems")
        except BaseException:
            pool.shutdown(cancel_futures=True)  # a broken campaign stops now, not in 500 runs
            raise
    merged: dict[str, str] = {}  # id -> newest modified a successful writer merged
    served: dict[str, list[Mapping[str, Any]]] = {}  # id -> every copy a writer was sent
    writers = []
    for outcome in outcomes:
        spec = outcome.spec
        figures.runs += 1
        figures.by_command[spec.command + (" --strict" if spec.strict else "")] += 1
        figures.faults += outcome.faults
        figures.killed += outcome.killed
        figures.longest = max(figures.longest, outcome.seconds)
        figures.exits[
            "killed" if outcome.killed else "hung" if outcome.hung else str(outcome.returncode)
        ] += 1
        if spec.shared:
            writers.append(outcome)
            records = campaign.records(spec)
            for ident, record in records.items():
                if record not in served.setdefault(ident, []):
                    served[ident].append(record)
            if outcome.returncode in (0, 1) and not outcome.killed and not outcome.hung:
                for ids in expected_ids(records, spec.pairs).values():
                    for ident in ids:
                        stamp = str(records[ident]["modified"])
                        merged[ident] = max(merged.get(ident, ""), stamp)
        for leftover in leftover_files(campaign.work / "runs" / f"{spec.index:05d}" / "db"):
            figures.problems.append(Problem("leftover", spec.index, leftover))
    figures.concurrent_writers = sum(
        any(o is not w and o.started < w.ended and w.started < o.ended for o in writers)
        for w in writers
    )
    figures.merged = len(merged)
    figures.database = check_database(campaign.shared_db, data.initial, served, merged)
    figures.wall = time.monotonic() - started
    figures.peak_rss_mb = max((o.rss_mb for o in outcomes), default=0.0)
    return figures


def table(figures: Figures, seed: int, timeout: float, jobs: int) -> str:
    db = figures.database
    rows: list[tuple[str, object]] = [
        ("runs", figures.runs),
        *((f"  {k}", v) for k, v in sorted(figures.by_command.items())),
        ("faults injected", sum(figures.faults.values())),
        *((f"  {k}", figures.faults.get(k, 0)) for k in FAULT_KINDS),
        ("crashes", figures.count("crash")),
        ("hangs", figures.count("hang")),
        ("wrong exits", figures.count("wrong exit")),
        ("wrong answers", figures.count("wrong answer")),
        ("private database problems", figures.count("records")),
        ("runs killed", figures.killed),
        ("shared-database writers overlapping another", figures.concurrent_writers),
        ("exit codes", ", ".join(f"{k}: {v}" for k, v in sorted(figures.exits.items()))),
        ("longest run (s)", f"{figures.longest:.1f}"),
        ("records before", db.before if db else "-"),
        ("records after", db.after if db and db.after is not None else "unreadable"),
        ("records merged by good runs (ids)", figures.merged),
        ("records lost", len(db.lost) if db else "-"),
        ("records wrong (forged or stale)", len(db.wrong) if db else "-"),
        (
            "leftover temp/lock files",
            len(db.leftovers if db else ()) + figures.count("leftover"),
        ),
        ("peak child RSS (MB)", f"{figures.peak_rss_mb:.0f}"),
        ("wall time (s)", f"{figures.wall:.0f}"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"fault campaign: seed {seed}, --timeout {timeout:g} s, {jobs} jobs"]
    lines += [f"{k:<{width}}  {v}" for k, v in rows]
    for p in figures.problems[:40]:
        lines.append(f"PROBLEM {p.category} (run {p.run}): {p.detail}")
    if db is not None and (db.lost or db.wrong):
        lines.append(f"PROBLEM records: lost {list(db.lost)[:10]}, wrong {list(db.wrong)[:10]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    # The deadline also covers the report's local work (reading the database, GraphQL
    # validation): on two busy cores a run starved of CPU can spend a short one without any
    # fault, and fail closed correctly but for no reason the campaign can check.
    parser.add_argument("--timeout", type=float, default=10.0, help="each run's --timeout")
    parser.add_argument("--jobs", type=int, default=2, help="units run at once")
    parser.add_argument("--only", type=int, help="replay one run of this seed")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--workdir", type=Path, help="keep the run directories here")
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="provscore-faults-"))
    try:
        figures = run_campaign(
            runs=args.runs,
            seed=args.seed,
            timeout=args.timeout,
            jobs=args.jobs,
            work=work,
            only=args.only,
        )
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(table(figures, args.seed, args.timeout, args.jobs))
    if args.json is not None:
        args.json.write_text(json.dumps(figures.to_json(), indent=1) + "\n")
    return 1 if figures.failed else 0


if __name__ == "__main__":
    sys.exit(main())
