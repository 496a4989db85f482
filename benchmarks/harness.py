"""The benchmark run: set up, measure everything side by side, compute the figures.

    embedded Elasticsearch (or --es-url)  +  latency server (child process) over the site
    a warm-up run (creates the indices, so no measured run pays for that)
    --repeat times at a quarter of the largest size: a first run and a re-run (memory)
    --repeat rounds at the largest size, each back to back so machine load hits all alike:
        the extraction bound (trafilatura alone over the corpus pages)
        a first run over fresh feeds  -> throughput, peak memory
        a re-run over the unchanged feeds -> time ratio, page fetches (must be 0)
        the naive pipeline for a time budget -> its rate
    the other benchmark modules, if present (DAG parsing, percolation, near-duplicates)

Each figure is the median over the rounds of that round's own ratio. Every run indexes into
one index prefix of this benchmark (as production writes into existing indices), deleted
afterwards; each run's feeds and URLs are its own, so every run's articles are all new.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from benchmarks import bound, peer, runs
from benchmarks.server import ServerProcess
from benchmarks.site import FEEDS, HOSTS, build_site, load_corpus
from ingest import embedded, store
from ingest.config import Settings

TARGETS = {
    "throughput_ratio_to_bound": (">=", 0.6),
    "speedup_vs_naive": (">=", 5.0),
    "rerun_time_ratio": ("<=", 0.05),
    "peak_rss_mb": ("<=", 400.0),
    "peak_pss_mb": ("<=", 400.0),
}
# Other engineers' benchmarks, run as `python -m benchmarks.<name> [--quick] --json FILE`.
COMPANIONS = ("dag_import", "percolate", "near_duplicates")


@dataclass
class Options:
    articles: int = 8000
    repeat: int = 3
    naive_budget: float = 60.0
    bound_rounds: int = 2  # per repeat
    quick: bool = False
    es_url: str | None = None
    es_port: int = 9219
    home: Path = field(default_factory=lambda: Settings.from_env().home / "bench")
    shared: Path = Path(__file__).resolve().parent.parent.parent / "shared"
    profile_dir: Path | None = None
    companion_python: str = sys.executable  # e.g. a virtualenv with Airflow for dag_import
    companions: bool = True  # run the other benchmark modules (dag_import & co.)
    peer: bool = True  # run trafilatura's command line over the same kind of site

    @classmethod
    def quick_defaults(cls) -> dict[str, Any]:
        return {"articles": 1000, "repeat": 1, "naive_budget": 15.0, "bound_rounds": 3}


def run(options: Options) -> dict[str, Any]:
    """Run the whole benchmark; return everything measured, figures first."""
    started = datetime.now(UTC)
    machine = _machine()
    es_url, es_pid, stop_es = _elasticsearch(options)
    try:
        with tempfile.TemporaryDirectory(prefix="mediamon-bench-") as tmp:
            measured = _measure(options, es_url, es_pid, Path(tmp))
        machine["load_after"] = list(os.getloadavg())
        companions = _companions(options, es_url)
    finally:
        if stop_es:
            embedded.stop(options.home, port=options.es_port)
    result = {
        "figures": _figures(measured, companions, machine["cores"]),
        "command": " ".join(["python -m benchmarks", *sys.argv[1:]]),
        "started_at": started.isoformat(timespec="seconds"),
        "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
        "machine": machine,
        "options": {k: str(v) for k, v in asdict(options).items()},
        "bounds": [{k: asdict(v) for k, v in r.bound.items()} for r in measured["rounds"]],
        "runs": [r.to_json() for r in measured["runs"]],
        "companions": companions,
    }
    return result


def _machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count() or 1,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_before": list(os.getloadavg()),
    }


def _elasticsearch(options: Options) -> tuple[str, int | None, bool]:
    """(URL, pid if local, whether to stop it afterwards): --es-url, else an embedded node."""
    if options.es_url:
        return options.es_url, None, False
    already = embedded.status(options.home, options.es_port).running
    status = embedded.start(options.home, port=options.es_port)
    return status.url, status.pid, not already


@dataclass
class Round:
    """One repeat at the largest size, measured back to back so that load drift hits all."""

    bound: dict[str, bound.Bound]
    first: runs.RunResult
    rerun: runs.RunResult
    naive: runs.RunResult
    peer: runs.RunResult | None  # trafilatura's command line (benchmarks/peer.py)


def _measure(options: Options, es_url: str, es_pid: int | None, out_dir: Path) -> dict[str, Any]:
    corpus = load_corpus(options.shared, out_dir)
    quarter, largest = max(1, options.articles // 4), options.articles
    results: list[runs.RunResult] = []
    rounds: list[Round] = []
    with ServerProcess(out_dir / "site") as server:
        # One set of indices for the whole benchmark, as in production: the monthly article
        # indices exist after the warm-up, so no measured run pays for creating them.
        where = runs.Target(es_url, es_pid, _prefix(), server)
        try:
            warm = build_site(options.shared, out_dir, server.port, len(corpus), "warmup")
            results.append(_run("warmup", warm.feeds, warm.articles, where))
            print(f"  warm-up (creates the indices): {results[-1].seconds:.1f} s",
                  file=sys.stderr)  # fmt: skip
            for repeat in range(options.repeat):
                results += _first_and_rerun(quarter, f"q{repeat}", options, out_dir, where)
            for repeat in range(options.repeat):
                profile = options.profile_dir if repeat == 0 else None
                rounds.append(_round(largest, repeat, corpus, options, out_dir, where, profile))
        finally:
            _delete(es_url, where.prefix)
    for r in rounds:
        results += [r.first, r.rerun, r.naive, *([r.peer] if r.peer else [])]
    return {"rounds": rounds, "runs": results}


def _round(
    size: int,
    repeat: int,
    corpus: list[Any],
    options: Options,
    out_dir: Path,
    where: runs.Target,
    profile: Path | None,
) -> Round:
    """The extraction bound, a first run and its re-run, and the naive pipeline."""
    measured_bound = bound.measure(corpus, options.bound_rounds)
    first, rerun = _first_and_rerun(size, f"n{repeat}", options, out_dir, where, profile)
    site = build_site(options.shared, out_dir, where.server.port, size // 4, f"naive{repeat}")
    naive = runs.naive_run(site.feeds, where, options.naive_budget)
    naive.counts["size"] = size
    print(f"  naive: {naive.rate:.2f} articles/s", file=sys.stderr, flush=True)
    cli = None
    if options.peer:
        site = build_site(options.shared, out_dir, where.server.port, size // 4, f"peer{repeat}")
        cli = peer.peer_run(site.feeds, where, out_dir / f"peer{repeat}")
        cli.counts["size"] = size // 4
        print(f"  peer (trafilatura CLI): {cli.rate:.1f} articles/s", file=sys.stderr, flush=True)
    return Round(measured_bound, first, rerun, naive, cli)


def _first_and_rerun(
    size: int,
    tag: str,
    options: Options,
    out_dir: Path,
    where: runs.Target,
    profile: Path | None = None,
) -> list[runs.RunResult]:
    """A first run over a new site of `size` articles, and a re-run over the same feeds."""
    site = build_site(options.shared, out_dir, where.server.port, size, tag)
    first = _run("pipeline", site.feeds, size, where, profile)
    rerun = _run("rerun", site.feeds, size, where)
    _progress(first, rerun)
    return [first, rerun]


def _run(
    kind: str, feeds: list[Any], size: int, where: runs.Target, profile: Path | None = None
) -> runs.RunResult:
    result = runs.pipeline_run(kind, feeds, where, profile_dir=profile)
    result.counts["size"] = size
    return result


def _progress(first: runs.RunResult, rerun: runs.RunResult) -> None:
    memory = first.memory.rss_mb if first.memory else float("nan")
    print(
        f"  {first.counts['size']:>6} articles: {first.articles} new in {first.seconds:.1f} s "
        f"({first.rate:.1f}/s, peak RSS {memory:.0f} MB); re-run {rerun.seconds:.2f} s, "
        f"{rerun.served.get('pages_200', '?')} pages fetched",
        file=sys.stderr,
        flush=True,
    )


def _prefix() -> str:
    return f"mmbench-{uuid.uuid4().hex[:8]}"


def _delete(es_url: str, prefix: str) -> None:
    settings = Settings(es_url=es_url, index_prefix=prefix)
    es = store.connect(settings)
    try:
        store.delete_all(es, store.IndexNames(prefix))
    finally:
        es.close()


def _companions(options: Options, es_url: str) -> dict[str, Any]:
    """Run the other benchmark modules that exist; their JSON goes into the report as is."""
    found: dict[str, Any] = {}
    for name in COMPANIONS if options.companions else ():
        spec = find_spec(f"benchmarks.{name}")
        if spec is None or spec.origin is None:
            found[name] = {"skipped": f"benchmarks/{name}.py is not there"}
            continue
        # Run only a module that says it takes --json: an unknown command line could do
        # anything with its defaults (such as use the Elasticsearch on the default port).
        if "--json" not in Path(spec.origin).read_text(encoding="utf-8"):
            found[name] = {"skipped": f"benchmarks/{name}.py does not take --json FILE"}
            continue
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            command = [options.companion_python, "-m", f"benchmarks.{name}", "--json", out.name]
            if options.quick:
                command.append("--quick")
            started = time.perf_counter()
            env = {**os.environ, "ES_URL": es_url}  # the benchmark's Elasticsearch, if needed
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            if done.returncode != 0:
                found[name] = {"failed": done.returncode, "stderr": done.stderr[-2000:]}
                continue
            found[name] = json.loads(Path(out.name).read_text() or "{}")
            found[name].setdefault("seconds", round(time.perf_counter() - started, 1))
    return found


def _figures(
    measured: dict[str, Any], companions: dict[str, Any], cores: int
) -> dict[str, dict[str, Any]]:
    """Each figure is the median over the rounds of that round's own ratio."""
    rounds: list[Round] = measured["rounds"]
    largest = rounds[0].first.counts["size"]
    quarters = [r for r in measured["runs"] if r.kind == "pipeline" and r.counts["size"] != largest]
    firsts = [r.first for r in rounds]
    rate = statistics.median(r.rate for r in firsts)
    ceilings = [r.bound["trafilatura"].pages_per_second(cores) for r in rounds]
    dag = companions.get("dag_import", {})
    return {
        "throughput_ratio_to_bound": _figure(
            _median(r.first.rate / c for r, c in zip(rounds, ceilings, strict=True)),
            f"{rate:.1f} articles/s at {largest} articles / {statistics.median(ceilings):.1f} "
            f"pages/s (trafilatura {_ms(rounds, 'trafilatura')} ms/page x {cores} cores)",
        ),
        "cpu_ratio_to_bound": _figure(
            _median(r.bound["trafilatura"].ms_per_page / _cpu_ms(r.first) for r in rounds),
            f"trafilatura's CPU per page over the run's CPU per article (all its processes, "
            f"Elasticsearch, the site): {_ms(rounds, 'trafilatura')} ms / "
            f"{statistics.median(_cpu_ms(r) for r in firsts):.1f} ms; what the ratio above "
            "would be on cores of its own",
        ),
        "speedup_vs_naive": _figure(
            _median(r.first.rate / r.naive.rate for r in rounds if r.naive.rate),
            f"naive: {statistics.median(r.naive.rate for r in rounds):.2f} articles/s",
        ),
        "rerun_time_ratio": _figure(
            _median(r.rerun.seconds / r.first.seconds for r in rounds),
            f"re-run {statistics.median(r.rerun.seconds for r in rounds):.2f} s; page fetches "
            f"{max(r.rerun.served.get('page_requests', -1) for r in rounds)}; feeds answered "
            f"304: {min(r.rerun.served.get('feeds_304', 0) for r in rounds)}/{FEEDS}",
        ),
        "peak_rss_mb": _figure(
            max(r.memory.rss_mb for r in firsts if r.memory),
            f"RSS summed over the run's processes, {largest} articles; at "
            f"{quarters[0].counts['size']}: {max(r.memory.rss_mb for r in quarters if r.memory)}"
            " MB (counts pages the workers share with their forkserver once per process)",
        ),
        "peak_pss_mb": _figure(
            max(r.memory.pss_mb for r in firsts if r.memory),
            f"PSS summed (shared pages divided among sharers), {largest} articles; at "
            f"{quarters[0].counts['size']}: {max(r.memory.pss_mb for r in quarters if r.memory)}"
            " MB",
        ),
        "dag_parse_ms": _figure(dag.get("dag_parse_ms"), dag.get("skipped", "")),
        "cpu_ms_per_article": _cpu_figure(firsts),
        "throughput_articles_per_s": _figure(round(rate, 1), f"{HOSTS} hosts, {FEEDS} feeds"),
        "ratio_to_mediamon_extraction": _figure(
            _median(
                r.first.rate / r.bound["mediamon_analyse_page"].pages_per_second(cores)
                for r in rounds
            ),
            f"vs analyse_page {_ms(rounds, 'mediamon_analyse_page')} ms/page",
        ),
        "ratio_to_trafilatura_cli": _peer_figure(rounds),
        "ratio_to_trafilatura_default": _figure(
            _median(
                r.first.rate / r.bound["trafilatura_default"].pages_per_second(cores)
                for r in rounds
            ),
            f"vs trafilatura.extract defaults {_ms(rounds, 'trafilatura_default')} ms/page",
        ),
    }


def _peer_figure(rounds: list[Round]) -> dict[str, Any]:
    """mediamon's articles/s over the peer's (trafilatura's command line), per round."""
    paired = [(r.first.rate, r.peer) for r in rounds if r.peer and r.peer.rate]
    if not paired:
        return _figure(None, "peer not run")
    peers = [cli for _, cli in paired]
    return _figure(
        _median(rate / cli.rate for rate, cli in paired),
        f"trafilatura -i feeds --feed --parallel {peer.PARALLEL} "
        f"{' '.join(peer.OPTIONS)}: {statistics.median(p.rate for p in peers):.1f} "
        f"articles/s at {peers[0].counts['size']} articles, CPU "
        f"{statistics.median(_cpu_ms(p) for p in peers):.1f} ms/article",
    )


def _cpu_ms(result: runs.RunResult) -> float:
    cpu = {**(result.memory.cpu_seconds if result.memory else {}), **result.cpu_outside}
    return 1000 * sum(cpu.values()) / max(result.articles, 1)


def _median(values: Iterable[float]) -> float:
    return round(statistics.median(values), 4)


def _ms(rounds: list[Round], extractor: str) -> float:
    return round(statistics.median(r.bound[extractor].ms_per_page for r in rounds), 1)


def _cpu_figure(firsts: list[runs.RunResult]) -> dict[str, Any]:
    """Median CPU ms per article of each process role, and of the services the run used."""
    per_role: dict[str, list[float]] = {}
    for result in firsts:
        cpu = {**(result.memory.cpu_seconds if result.memory else {}), **result.cpu_outside}
        for role, seconds in cpu.items():
            per_role.setdefault(role, []).append(1000 * seconds / max(result.articles, 1))
    medians = {role: round(statistics.median(ms), 1) for role, ms in per_role.items()}
    detail = ", ".join(f"{role} {ms}" for role, ms in sorted(medians.items(), key=lambda x: -x[1]))
    return _figure(round(sum(medians.values()), 1), detail)


def _figure(value: Any, detail: str) -> dict[str, Any]:
    return {"value": value, "detail": detail}


def check_targets(figures: dict[str, dict[str, Any]]) -> None:
    """Mark each figure with its target and whether it was met (in place)."""
    for name, (op, target) in TARGETS.items():
        value = figures[name]["value"]
        figures[name]["target"] = f"{op} {target}"
        if value is None:
            figures[name]["met"] = None
        else:
            figures[name]["met"] = value >= target if op == ">=" else value <= target
