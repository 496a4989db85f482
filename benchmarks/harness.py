"""The benchmark run: set up, measure everything side by side, compute the figures.

    embedded Elasticsearch (or --es-url)  +  latency server (child process) over the site
    extraction bound (rounds before the runs)
    for each size (a quarter, then the largest), --repeat times:
        a first run over fresh indices  -> throughput, peak memory
        a re-run over the unchanged feeds -> time ratio, page fetches (must be 0)
    the naive pipeline for a time budget -> speed-up
    extraction bound (rounds after the runs, so drift in machine load shows in both)
    the other benchmark modules, if present (DAG parsing, percolation, near-duplicates)

Every run indexes into its own index prefix, deleted afterwards.
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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from benchmarks import bound, runs
from benchmarks.server import ServerProcess
from benchmarks.site import FEEDS, HOSTS, build_site, load_corpus
from ingest import embedded, store
from ingest.config import Settings

TARGETS = {
    "throughput_ratio_to_bound": (">=", 0.6),
    "speedup_vs_naive": (">=", 5.0),
    "rerun_time_ratio": ("<=", 0.05),
    "peak_rss_mb": ("<=", 400.0),
}
# Other engineers' benchmarks, run as `python -m benchmarks.<name> [--quick] --json FILE`.
COMPANIONS = ("dag_import", "percolate", "near_duplicates")


@dataclass
class Options:
    articles: int = 8000
    repeat: int = 3
    naive_budget: float = 60.0
    bound_rounds: int = 5
    quick: bool = False
    es_url: str | None = None
    es_port: int = 9219
    home: Path = field(default_factory=lambda: Settings.from_env().home / "bench")
    shared: Path = Path(__file__).resolve().parent.parent.parent / "shared"
    profile_dir: Path | None = None
    companion_python: str = sys.executable  # e.g. a virtualenv with Airflow for dag_import
    companions: bool = True  # run the other benchmark modules (dag_import & co.)

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
        "bound": {k: asdict(v) for k, v in measured["bound"].items()},
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


def _measure(options: Options, es_url: str, es_pid: int | None, out_dir: Path) -> dict[str, Any]:
    corpus = load_corpus(options.shared, out_dir)
    half = max(1, options.bound_rounds // 2)
    bounds = [bound.measure(corpus, half)]
    results: list[runs.RunResult] = []
    sizes = [max(1, options.articles // 4), options.articles]
    with ServerProcess(out_dir / "site") as server:
        # One set of indices for the whole benchmark, as in production: the monthly article
        # indices exist after the warm-up, so no measured run pays for creating them.
        where = runs.Target(es_url, es_pid, _prefix(), server)
        try:
            warm = build_site(options.shared, out_dir, server.port, len(corpus), "warmup")
            results.append(_run("warmup", warm.feeds, warm.articles, where))
            print(f"  warm-up (creates the monthly indices): {results[-1].seconds:.1f} s",
                  file=sys.stderr)  # fmt: skip
            for size in sizes:
                profile = options.profile_dir if size == sizes[-1] else None
                results += _runs_at(size, options, out_dir, where, profile)
            site = build_site(options.shared, out_dir, server.port, sizes[0], "naive")
            naive = runs.naive_run(site.feeds, where, options.naive_budget)
            naive.counts["size"] = sizes[0]
            results.append(naive)
        finally:
            _delete(es_url, where.prefix)
    bounds.append(bound.measure(corpus, options.bound_rounds - half))
    return {"bound": _merge_bounds(bounds), "runs": results}


def _runs_at(
    size: int, options: Options, out_dir: Path, where: runs.Target, profile: Path | None
) -> list[runs.RunResult]:
    """`options.repeat` first runs over a new site of `size` articles, each with a re-run."""
    results = []
    for repeat in range(options.repeat):
        site = build_site(options.shared, out_dir, where.server.port, size, f"n{size}-{repeat}")
        first = _run("pipeline", site.feeds, size, where, profile if repeat == 0 else None)
        rerun = _run("rerun", site.feeds, size, where)
        _progress(first, rerun)
        results += [first, rerun]
    return results


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


def _merge_bounds(parts: list[dict[str, bound.Bound]]) -> dict[str, bound.Bound]:
    merged = {}
    for name in parts[0]:
        rounds = [r for part in parts for r in part[name].rounds]
        merged[name] = bound.Bound(round(statistics.median(rounds), 2), rounds)
    return merged


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
    all_runs: list[runs.RunResult] = measured["runs"]
    sizes = [r.counts["size"] for r in all_runs if r.kind == "pipeline"]
    largest, quarter = max(sizes), min(sizes)
    firsts = [r for r in all_runs if r.kind == "pipeline" and r.counts["size"] == largest]
    reruns = [r for r in all_runs if r.kind == "rerun" and r.counts["size"] == largest]
    quarters = [r for r in all_runs if r.kind == "pipeline" and r.counts["size"] == quarter]
    naive = next(r for r in all_runs if r.kind == "naive")
    bounds: dict[str, bound.Bound] = measured["bound"]
    rate = statistics.median(r.rate for r in firsts)
    ceiling = bounds["trafilatura"].pages_per_second(cores)
    own = bounds["mediamon_analyse_page"].pages_per_second(cores)
    ratios = [re.seconds / first.seconds for first, re in zip(firsts, reruns, strict=True)]
    dag = companions.get("dag_import", {})
    figures = {
        "throughput_ratio_to_bound": _figure(
            round(rate / ceiling, 3),
            f"{rate:.1f} articles/s at {largest} articles (median of {len(firsts)}) / "
            f"{ceiling:.1f} pages/s ({bounds['trafilatura'].ms_per_page:.1f} ms/page "
            f"x {cores} cores)",
        ),
        "speedup_vs_naive": _figure(
            round(rate / naive.rate, 2) if naive.rate else None,
            f"naive: {naive.articles} articles in {naive.seconds:.0f} s = {naive.rate:.2f}/s",
        ),
        "rerun_time_ratio": _figure(
            round(statistics.median(ratios), 4),
            f"re-run {statistics.median(r.seconds for r in reruns):.2f} s; page fetches "
            f"{max(r.served.get('page_requests', -1) for r in reruns)}; "
            f"feeds answered 304: {min(r.served.get('feeds_304', 0) for r in reruns)}/{FEEDS}",
        ),
        "peak_rss_mb": _figure(
            max(r.memory.rss_mb for r in firsts if r.memory),
            f"{largest} articles; at {quarter}: "
            f"{max(r.memory.rss_mb for r in quarters if r.memory)} MB; PSS "
            f"{max(r.memory.pss_mb for r in firsts if r.memory)} MB / "
            f"{max(r.memory.pss_mb for r in quarters if r.memory)} MB",
        ),
        "dag_parse_ms": _figure(dag.get("dag_parse_ms"), dag.get("skipped", "")),
        "cpu_ms_per_article": _cpu_figure(firsts),
        "throughput_articles_per_s": _figure(round(rate, 1), f"{HOSTS} hosts, {FEEDS} feeds"),
        "ratio_to_mediamon_extraction": _figure(
            round(rate / own, 3),
            f"vs analyse_page {bounds['mediamon_analyse_page'].ms_per_page:.1f} ms/page",
        ),
    }
    return figures


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
