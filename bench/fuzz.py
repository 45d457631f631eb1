"""Coverage-guided fuzzing of every reader with atheris (libFuzzer for Python).

    python bench/fuzz.py [--seconds N] [--target NAME ...] [--out DIR] [--jobs N]
                         [--hang-seconds S] [--rss-limit-mb M] [--list]

Each target of tests/fuzz_targets.py runs in a child process of its own: the `scorer` package
instrumented for coverage, the target's seeds as the starting corpus (in a temporary directory),
libFuzzer given `--seconds`. Inside the child a wrapper keeps going past findings: an input that
raises anything but a `ProvscoreError` is a crash, one that runs longer than `--hang-seconds` of
CPU is a hang; each is counted and, up to five per distinct signature (exception and innermost
scorer frame), saved to `OUT/TARGET/crash-<sha>.bin` (or `hang-`) with its traceback beside it in
`.txt`. libFuzzer's own `-timeout` (wall clock; a blocked read burns no CPU) and `-rss_limit_mb`
are the backstop: a child they end is restarted on its corpus for the time left, and what they
saved (`libfuzzer-timeout-*`, `libfuzzer-oom-*`) counts as a hang or a crash. At the end one table:
per target the inputs tried, the coverage libFuzzer reports (edges and features), the corpus
size, crashes, hangs and seconds, with totals. Exit status 1 when anything crashed or hung, 2 when
the harness itself failed (a child that never started fuzzing). `--jobs` targets run at once
(default 1: fuzzing takes a core each).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
DEFAULT_TABLE = "fuzz_targets:TARGETS"
KEEP_PER_SIGNATURE = 5
MAX_RESTARTS = 3
_STARTUP_GRACE = 120.0  # seconds a child may take beyond its budget before it is killed


# --- inside the child: the wrapper that keeps going ---------------------------------------------


class Hang(BaseException):
    """Raised in the fuzzed code by the CPU-time alarm. A BaseException, so that a reader's
    `except Exception` cannot swallow it."""


def _alarm(_signum: int, _frame: FrameType | None) -> None:
    raise Hang


def signature(kind: str, text: str) -> str:
    """What identifies a finding: its kind, the exception's type and the innermost frame in
    `scorer` (else the innermost frame), so that one bug found a thousand times is one line."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "?"
    error = last.split(":", 1)[0].strip()[:80]
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', text)
    inner = [f for f in frames if "/scorer/" in f[0]] or frames
    if not inner:
        return f"{kind}: {last[:120]}"
    file, line, function = inner[-1]
    where = file.split("/scorer/", 1)[-1] if "/scorer/" in file else Path(file).name
    prefix = "scorer/" if "/scorer/" in file else ""
    return f"{kind}: {error} at {prefix}{where}:{line} in {function}"


@dataclass
class Recorder:
    """Runs one input through `check` (None: handled cleanly, else a traceback) under a CPU-time
    alarm, and records crashes and hangs in `out` without stopping."""

    check: Callable[[bytes], str | None]
    out: Path
    hang_seconds: float = 2.0
    keep: int = KEEP_PER_SIGNATURE
    execs: int = 0
    crashes: int = 0
    hangs: int = 0
    signatures: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        # CPU time, not wall time: libFuzzer's -timeout owns ITIMER_REAL and SIGALRM.
        signal.signal(signal.SIGPROF, _alarm)

    def one(self, data: bytes) -> None:
        self.execs += 1
        problem: tuple[str, str] | None = None
        try:
            signal.setitimer(signal.ITIMER_PROF, self.hang_seconds)
            try:
                found = self.check(data)
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
            if found is not None:
                problem = ("crash", found)
        except Hang:
            problem = ("hang", traceback.format_exc())
        except KeyboardInterrupt:
            raise
        except BaseException:  # SystemExit from a reader is a crash too
            problem = ("crash", traceback.format_exc())
        if problem is not None:
            self.record(problem[0], data, problem[1])

    def record(self, kind: str, data: bytes, text: str) -> None:
        if kind == "hang":
            self.hangs += 1
        else:
            self.crashes += 1
        key = signature(kind, text)
        seen = self.signatures.setdefault(key, [0, []])
        seen[0] += 1
        if len(seen[1]) < self.keep:
            digest = hashlib.sha256(data).hexdigest()[:16]
            base = self.out / f"{kind}-{digest}"
            base.with_suffix(".bin").write_bytes(data)
            base.with_suffix(".txt").write_text(f"{key}\n\n{text}", encoding="utf-8")
            if base.name not in seen[1]:
                seen[1].append(base.name)
        self.write_stats()

    def write_stats(self) -> None:
        stats = {"crashes": self.crashes, "hangs": self.hangs, "signatures": self.signatures}
        temp = self.out / "stats.json.tmp"
        temp.write_text(json.dumps(stats, indent=1), encoding="utf-8")
        temp.replace(self.out / "stats.json")


def load_table(spec: str) -> dict[str, Any]:
    """`module:attribute` (a sequence of targets with `.name`), by name."""
    module, _, attribute = spec.partition(":")
    return {t.name: t for t in getattr(importlib.import_module(module), attribute)}


def child(name: str, table: str, out: Path, hang_seconds: float, libfuzzer: list[str]) -> None:
    """Fuzz one target under libFuzzer; never returns (libFuzzer exits the process)."""
    import pkgutil

    import atheris

    with atheris.instrument_imports(include=["scorer"]):
        import scorer

        for info in pkgutil.walk_packages(scorer.__path__, "scorer."):
            if not info.name.endswith("__main__"):  # it runs the CLI
                importlib.import_module(info.name)
    targets = load_table(table)
    from fuzz_targets import check

    target = targets[name]
    recorder = Recorder(lambda data: check(target, data), out, hang_seconds)
    recorder.write_stats()
    atheris.Setup([sys.argv[0], *libfuzzer], recorder.one)
    atheris.Fuzz()


# --- in the parent: one child per target, and the table ------------------------------------------


@dataclass
class Result:
    name: str
    execs: int = 0
    edges: int = 0
    features: int = 0
    corpus: int = 0
    crashes: int = 0
    hangs: int = 0
    seconds: float = 0.0
    signatures: dict[str, list[Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # the harness's own failures


# Without coverage (a target outside `scorer`) libFuzzer leaves out cov and ft.
_STATUS = re.compile(r"^#(\d+)\s+\w+\s+(?:cov: (\d+) ft: (\d+) )?corp: (\d+)/", re.MULTILINE)
_EXECUTED = re.compile(r"^stat::number_of_executed_units: (\d+)", re.MULTILINE)


def parse_log(text: str) -> dict[str, int]:
    """Inputs tried, edges, features and corpus size from one libFuzzer log (its last status
    line; the final stats when it printed them), and what its backstops caught."""
    found: dict[str, int] = {"started": 0, "execs": 0, "edges": 0, "features": 0, "corpus": 0}
    statuses = _STATUS.findall(text)
    if statuses:
        execs, edges, features, corpus = (int(x or 0) for x in statuses[-1])
        found.update(started=1, execs=execs, edges=edges, features=features, corpus=corpus)
    executed = _EXECUTED.findall(text)
    if executed:
        found["execs"] = max(found["execs"], int(executed[-1]))
    found["timeouts"] = len(re.findall(r"ERROR: libFuzzer: timeout", text))
    found["ooms"] = len(re.findall(r"ERROR: libFuzzer: out-of-memory", text))
    found["deaths"] = len(
        re.findall(r"Uncaught Python exception|ERROR: libFuzzer: deadly signal", text)
    )
    return found


def _scratch() -> Path:
    """Where inputs are written: memory when /dev/shm is there (the targets write a file per
    input, some with fsync), else the system's temporary directory."""
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="provscore-fuzz-", dir=base))


def fuzz_target(name: str, seeds: Sequence[bytes], options: argparse.Namespace) -> Result:
    """Run one target's child (restarted after a backstop ended it) and read what it found."""
    result = Result(name)
    out = Path(options.out) / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    scratch = _scratch()
    try:
        corpus = scratch / "corpus"
        corpus.mkdir()
        for i, seed in enumerate(seeds):
            (corpus / f"seed-{i:03d}").write_bytes(seed)
        (scratch / "tmp").mkdir()
        env = {
            **os.environ,
            "TMPDIR": str(scratch / "tmp"),
            "PYTHONPATH": os.pathsep.join(
                [str(ROOT), str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
        }
        max_len = max(4096, 2 * max((len(s) for s in seeds), default=0))
        started = time.monotonic()
        logs = []
        for attempt in range(MAX_RESTARTS + 1):
            left = options.seconds - (time.monotonic() - started)
            if attempt and left < 5:
                break
            log = out / f"libfuzzer-{attempt}.log"
            command = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                name,
                "--table",
                options.table,
                "--out",
                str(out),
                "--hang-seconds",
                str(options.hang_seconds),
                "--",
                str(corpus),
                f"-max_total_time={max(1, round(left))}",
                f"-timeout={max(10, round(5 * options.hang_seconds))}",
                f"-rss_limit_mb={options.rss_limit_mb}",
                f"-max_len={max_len}",
                f"-artifact_prefix={out}/libfuzzer-",
                "-print_final_stats=1",
                "-close_fd_mask=1",  # the readers' stdout; libFuzzer reports on stderr
            ]
            with log.open("wb") as sink:
                process = subprocess.Popen(
                    command, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True
                )
                try:
                    code = process.wait(timeout=left + _STARTUP_GRACE)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                    code = -9
                    result.problems.append(f"killed after {left + _STARTUP_GRACE:.0f} s")
            text = log.read_text(encoding="utf-8", errors="replace")
            logs.append(text)
            parsed = parse_log(text)
            if not parsed["started"]:
                tail = "\n".join(text.strip().splitlines()[-15:])
                result.problems.append(f"child exited {code} before fuzzing:\n{tail}")
                break
            result.execs += parsed["execs"]
            result.edges = max(result.edges, parsed["edges"])
            result.features = max(result.features, parsed["features"])
            result.corpus = max(result.corpus, parsed["corpus"])
            result.hangs += parsed["timeouts"]
            result.crashes += parsed["ooms"] + parsed["deaths"]
            if code == 0:
                break
        result.seconds = time.monotonic() - started
        stats_file = out / "stats.json"
        if stats_file.is_file():
            stats = json.loads(stats_file.read_text(encoding="utf-8"))
            result.crashes += stats["crashes"]
            result.hangs += stats["hangs"]
            result.signatures = stats["signatures"]
        for artifact in sorted(out.glob("libfuzzer-*")):
            if not artifact.name.endswith(".log"):
                kind = "hang" if "timeout" in artifact.name else "crash"
                result.signatures[f"{kind}: libFuzzer {artifact.name.split('-')[1]}"] = [
                    1,
                    [artifact.name],
                ]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def render(results: Sequence[Result], out: Path) -> str:
    """The table, totals, then one line per distinct finding."""
    head = (
        f"{'target':<20} {'execs':>10} {'exec/s':>7} {'edges':>6} {'features':>8} "
        f"{'corpus':>6} {'crashes':>7} {'hangs':>5} {'seconds':>7}"
    )
    rows = [head, "-" * len(head)]

    def row(r: Result) -> str:
        rate = r.execs / r.seconds if r.seconds else 0
        return (
            f"{r.name:<20} {r.execs:>10} {rate:>7.0f} {r.edges:>6} {r.features:>8} "
            f"{r.corpus:>6} {r.crashes:>7} {r.hangs:>5} {r.seconds:>7.1f}"
        )

    rows += [row(r) for r in results]
    total = Result(
        "total",
        execs=sum(r.execs for r in results),
        edges=sum(r.edges for r in results),
        features=sum(r.features for r in results),
        corpus=sum(r.corpus for r in results),
        crashes=sum(r.crashes for r in results),
        hangs=sum(r.hangs for r in results),
        seconds=sum(r.seconds for r in results),
    )
    rows += ["-" * len(head), row(total)]
    findings = [
        f"  {r.name}: {count} x {key}" + (f"  ({out / r.name / files[0]})" if files else "")
        for r in results
        for key, (count, files) in sorted(r.signatures.items())
    ]
    if findings:
        rows += ["", "findings (saved inputs: .bin, tracebacks: .txt):", *findings]
    problems = [f"  {r.name}: {p}" for r in results for p in r.problems]
    if problems:
        rows += ["", "harness problems:", *problems]
    return "\n".join(rows) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    libfuzzer: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, libfuzzer = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="fuzzing time per target")
    parser.add_argument("--target", action="append", help="a target to run (default: all)")
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "provscore-fuzz"))
    parser.add_argument("--jobs", type=int, default=1, help="targets fuzzed at once")
    parser.add_argument("--hang-seconds", type=float, default=2.0, help="CPU seconds per input")
    parser.add_argument("--rss-limit-mb", type=int, default=2048)
    parser.add_argument("--table", default=DEFAULT_TABLE, help="module:attribute of targets")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    sys.path[:0] = [str(ROOT), str(TESTS)]
    if options.child:
        child(options.child, options.table, Path(options.out), options.hang_seconds, libfuzzer)
        return 0  # not reached: libFuzzer exits the process
    import shared_data

    table = load_table(options.table)
    if options.list:
        for target in table.values():
            print(f"{target.name:<20} {target.reads}")
        return 0
    names = options.target or list(table)
    unknown = [n for n in names if n not in table]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; --list shows them")
    seeds = {n: table[n].seeds(shared_data.for_script) for n in names}
    with ThreadPoolExecutor(max(1, options.jobs)) as pool:
        results = list(pool.map(lambda n: fuzz_target(n, seeds[n], options), names))
    sys.stdout.write(render(results, Path(options.out)))
    if any(r.problems for r in results):
        return 2
    return 1 if any(r.crashes or r.hangs for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
