"""The extraction pool: workers start from a forkserver that preloaded their libraries."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from ingest.extract import pool as worker


def test_pool_workers_start_from_the_preloaded_forkserver() -> None:
    # ingest.extract.preload ends with gc.freeze(): a worker forked from that forkserver
    # inherits a non-empty permanent generation; one started without the preload has none.
    # (A preload module that fails to import is skipped by multiprocessing without a word.)
    with worker.extraction_pool(2) as pool:
        assert isinstance(pool, ProcessPoolExecutor)
        frozen = [pool.submit(gc.get_freeze_count).result(timeout=120) for _ in range(2)]
    assert all(count > 1000 for count in frozen), frozen


def test_one_worker_is_a_thread_in_this_process() -> None:
    with worker.extraction_pool(1) as pool:
        assert not isinstance(pool, ProcessPoolExecutor)
        assert pool.submit(worker.worker_count, 3).result() == 3


# -- the pool however its owner was started (issue #13) -------------------------------------

PARAGRAPH = (
    "Volunteers at the border described long nights in the forest, with temperatures far "
    "below zero and little shelter, while officials on both sides traded accusations about "
    "who had brought the people there and who was keeping them from crossing. "
)
PAGE = (
    "<html lang='en'><head><title>Border</title></head><body><article><h1>Border</h1>"
    + "".join(f"<p>{PARAGRAPH} Part {n}.</p>" for n in range(4))
    + "</article></body></html>"
)


def test_the_workers_load_no_elasticsearch_and_no_rich_after_analysing_pages() -> None:
    # The extraction processes import what extraction needs (issue #21): the Elasticsearch
    # client and the terminal rendering are the main process's. Asked in the real workers,
    # after they analysed pages (which imports whatever analysing imports lazily).
    with worker.extraction_pool(2) as pool:
        analysed = [pool.submit(worker.analyse_page, PAGE, "http://x.test/a") for _ in range(6)]
        assert {future.result(timeout=120)[1].code for future in analysed} == {"en"}
        asked = [pool.submit(eval, "sorted(__import__('sys').modules)") for _ in range(6)]
        loaded = {module for future in asked for module in future.result(timeout=120)}
    assert "ingest.extract.page" in loaded and "trafilatura" in loaded
    heavy = {module.split(".")[0] for module in loaded} & {
        "elasticsearch",
        "elastic_transport",
        "rich",
    }
    assert heavy == set()


# Like the `airflow` console script in an Airflow task process: `__main__` is a file (no
# module spec, so multiprocessing would re-run it in every worker), and re-running it fails
# there, as Airflow's settings fail on the metadata database URL the supervisor blanks.
CONSOLE_SCRIPT = f"""
import os, sys
if os.environ.get("MEDIAMON_TEST_TASK_PROCESS"):
    raise RuntimeError("the parent's __main__ ran again in an extraction worker")
from ingest.extract import pool as worker

def main():
    os.environ["MEDIAMON_TEST_TASK_PROCESS"] = "1"
    with worker.extraction_pool(2) as pool:
        futures = [pool.submit(worker.analyse_page, {PAGE!r}, "http://x.test/a", None)
                   for _ in range(4)]
        print(sorted({{f.result(timeout=120)[1].code for f in futures}}))

if __name__ == "__main__":
    main()
"""

# Like a Celery prefork worker: the pool is opened inside a daemonic process. It reports its
# workers' process ids, then waits to be killed, or, with the argument `once`, returns.
DAEMONIC_OWNER = f"""
import os, sys, time
# A Celery prefork worker is a daemonic process of billiard, Celery's multiprocessing, which
# also installs its own process object as multiprocessing's current process.
if sys.argv[2] == "billiard":
    import billiard as multiprocessing
else:
    import multiprocessing
from ingest.extract import pool as worker

def own_a_pool(results, linger):
    try:
        use_a_pool(results, linger)
    except BaseException as error:  # reported, so that the host fails at once
        results.put(repr(error))

def use_a_pool(results, linger):
    with worker.extraction_pool(2) as pool:
        futures = [pool.submit(worker.analyse_page, {PAGE!r}, "http://x.test/a", None)
                   for _ in range(4)]
        language = {{f.result(timeout=120)[1].code for f in futures}}
        pids = {{pool.submit(os.getpid).result(timeout=60) for _ in range(8)}}
        pids |= set(p.pid for p in pool._processes.values())
        results.put((sorted(language), sorted(pids)))
        if linger:
            time.sleep(600)

if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    owner = context.Process(target=own_a_pool, args=(results, sys.argv[1] != "once"),
                            daemon=True)
    owner.start()
    outcome = results.get(timeout=120)
    if isinstance(outcome, str):
        sys.exit(outcome)
    language, pids = outcome
    print(owner.pid, language, *pids, flush=True)
    owner.join(timeout=600)
    sys.exit(owner.exitcode)
"""


def run_script(tmp_path: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "host.py"
    script.write_text(text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=280,
        check=False, cwd=tmp_path,
    )  # fmt: skip


def test_pool_under_a_console_script_does_not_rerun_its_main(tmp_path: Path) -> None:
    result = run_script(tmp_path, CONSOLE_SCRIPT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "['en']"
    assert "ran again" not in result.stderr


@pytest.mark.parametrize("library", ["multiprocessing", "billiard"])
def test_pool_inside_a_daemonic_process_extracts_in_processes(tmp_path: Path, library: str) -> None:
    if library == "billiard":
        pytest.importorskip("billiard", reason="Celery's billiard comes with mediamon[deploy]")
    result = run_script(tmp_path, DAEMONIC_OWNER, "once", library)
    assert result.returncode == 0, result.stderr[-3000:]
    owner, language, *pids = result.stdout.split(maxsplit=2)
    assert language == "['en']"
    assert owner not in pids[0].split()  # the work ran in the pool's processes
    assert len(pids[0].split()) == 2


def test_workers_exit_when_their_daemonic_owner_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "host.py"
    script.write_text(DAEMONIC_OWNER, encoding="utf-8")
    host = subprocess.Popen(
        [sys.executable, str(script), "linger", "multiprocessing"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert host.stdout is not None
        owner, _language, *workers = host.stdout.readline().split()
        assert len(workers) == 2
        os.kill(int(owner), signal.SIGKILL)  # as a Celery worker killed mid-batch
        deadline = time.monotonic() + 30
        while any(alive(int(pid)) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(int(pid)) for pid in workers), "extraction workers outlived it"
    finally:
        host.kill()
        host.wait(timeout=30)
        if host.stdout is not None:
            host.stdout.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead: only its parent has not collected it yet
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
