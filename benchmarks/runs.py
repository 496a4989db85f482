"""One measured run, in a process of its own: the real pipeline, or the naive one.

Each run is a fresh Python process (as a CLI run or an Airflow task is), so its peak memory
is its own and not the harness's, and nothing is warm that a real run would find cold. The
child times only the work (`run_feeds`, or the naive loop), not interpreter start-up and
imports; the parent samples the memory of the child's whole process tree meanwhile.
"""

from __future__ import annotations

import ipaddress
import multiprocessing
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from benchmarks.memory import MemoryPeak, TreeSampler, cpu_seconds
from benchmarks.server import ServerProcess
from ingest.models import Feed

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)
RUN_TIMEOUT = 3600.0


@dataclass(frozen=True)
class Target:
    """Where runs go: the Elasticsearch (and its pid when local), the indices, the site."""

    es_url: str
    es_pid: int | None
    prefix: str
    server: ServerProcess


@dataclass
class RunResult:
    kind: str  # "pipeline", "rerun" or "naive"
    articles: int  # new articles indexed
    seconds: float  # wall clock of the work itself
    counts: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    served: dict[str, int] = field(default_factory=dict)  # what the site's server saw
    memory: MemoryPeak | None = None
    profile: str | None = None  # where a py-spy profile of this run was written
    # CPU seconds the run cost outside its own process tree (Elasticsearch, the site server)
    cpu_outside: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.articles / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["rate"] = round(self.rate, 2)
        data["seconds"] = round(self.seconds, 3)
        return data


def _settings(es_url: str, prefix: str) -> Any:
    from ingest.config import Settings

    # The environment still applies (MEDIAMON_EXTRACT_WORKERS, MEDIAMON_BATCH_SIZE, ...), so
    # a setting can be compared by running the benchmark twice.
    return replace(Settings.from_env(), es_url=es_url, index_prefix=prefix, egress_allow=LOOPBACK)


def _pipeline_child(feeds: list[Feed], es_url: str, prefix: str, results: Queue[Any]) -> None:
    from ingest import store
    from ingest.pipeline import run_feeds

    settings = _settings(es_url, prefix)
    es = store.connect(settings)
    store.install_templates(es, store.IndexNames(prefix))  # once per deployment: not timed
    started = time.perf_counter()
    report = run_feeds(feeds, settings, es)
    seconds = time.perf_counter() - started
    es.close()
    results.put(
        {
            "articles": report.counts["articles.new"],
            "seconds": seconds,
            "counts": dict(report.counts),
            "failures": dict(report.failures),
        }
    )


def _naive_child(
    feeds: list[Feed], es_url: str, prefix: str, budget: float, results: Queue[Any]
) -> None:
    from benchmarks.naive import run_naive
    from ingest import store

    settings = _settings(es_url, prefix)
    es = store.connect(settings)
    names = store.IndexNames(prefix)
    store.install_templates(es, names)
    articles, seconds = run_naive(feeds, es, names, budget)
    es.close()
    results.put({"articles": articles, "seconds": seconds})


def measure(
    kind: str, target: Any, args: tuple[Any, ...], where: Target, profile_dir: Path | None = None
) -> RunResult:
    """Run `target(*args, queue)` in a fresh process; time it, sample its process tree."""
    outside = {"elasticsearch": where.es_pid, "server": where.server.pid}
    cpu_before = {name: cpu_seconds(pid) for name, pid in outside.items() if pid}
    context = multiprocessing.get_context("spawn")
    results: Queue[Any] = context.Queue()
    where.server.clear()
    process = context.Process(target=target, args=(*args, results), name=f"bench-{kind}")
    process.start()
    assert process.pid is not None
    sampler = TreeSampler(process.pid).start()
    spy, profile = _start_profiler(process.pid, kind, profile_dir)
    try:
        outcome = results.get(timeout=RUN_TIMEOUT)
    finally:
        process.join(timeout=60)
        memory = sampler.stop()
        if spy is not None:
            spy.wait(timeout=120)
    if process.exitcode != 0:
        raise RuntimeError(f"the {kind} run failed (exit code {process.exitcode})")
    cpu_outside = {name: round(cpu_seconds(pid) - cpu_before[name], 2) for name, pid in
                   outside.items() if pid}  # fmt: skip
    return RunResult(
        kind=kind,
        served=where.server.counts(),
        memory=memory,
        profile=profile,
        cpu_outside=cpu_outside,
        **outcome,
    )


def pipeline_run(
    kind: str, feeds: list[Feed], where: Target, profile_dir: Path | None = None
) -> RunResult:
    """`run_feeds` over `feeds`, as a CLI run or an Airflow task does it."""
    args = (feeds, where.es_url, where.prefix)
    return measure(kind, _pipeline_child, args, where, profile_dir)


def naive_run(feeds: list[Feed], where: Target, budget: float) -> RunResult:
    """The naive pipeline over `feeds` for `budget` seconds."""
    return measure("naive", _naive_child, (feeds, where.es_url, where.prefix, budget), where)


def _start_profiler(
    pid: int, kind: str, profile_dir: Path | None
) -> tuple[subprocess.Popen[bytes] | None, str | None]:
    """py-spy on the run and its extraction workers, written as a speedscope profile."""
    if profile_dir is None:
        return None, None
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        raise RuntimeError("--profile needs py-spy (pip install py-spy)")
    profile_dir.mkdir(parents=True, exist_ok=True)
    out = profile_dir / f"{kind}-{pid}.speedscope.json"
    command = [py_spy, "record", "--pid", str(pid), "--subprocesses", "--rate", "50"]
    command += ["--format", "speedscope", "--output", str(out), "--nonblocking"]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return spy, str(out)


__all__ = ["MemoryPeak", "RunResult", "Target", "measure", "naive_run", "pipeline_run"]
