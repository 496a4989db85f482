"""The CPU-bound work of a run, done in a pool of worker processes (one per core).

`analyse_page` extracts a page's text and metadata, tags its language and computes the
body's near-duplicate fingerprint; `tag_feed_text` tags a feed-only article's language.
Both are sent to the pool by reference (pickled by name), so they live in this small module
rather than in `ingest.pipeline`.

The pool's processes start from a forkserver that has already imported trafilatura and the
language model (`ingest.extract.preload`), so the workers share those pages instead of each
loading its own copy: measured on the corpus with two workers, the process tree's
proportional memory (PSS) fell from 445 to 320 MB. Fingerprints are numpy alone
(`ingest.stories.minhash`): datasketch's package brought scipy into every worker.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from multiprocessing import process as mp_process
from multiprocessing.process import BaseProcess

from ingest.extract.language import tag_language
from ingest.extract.page import extract_page
from ingest.models import Extraction, LanguageHint, LanguageTag
from ingest.stories import minhash

__all__ = ["analyse_page", "extraction_pool", "tag_feed_text", "warm_up", "worker_count"]

log = logging.getLogger(__name__)


def analyse_page(
    html: str,
    url: str,
    declared: LanguageHint | None = None,
    site: Mapping[str, int] | None = None,
) -> tuple[Extraction, LanguageTag]:
    """Extraction, language tagging and the body's near-duplicate fingerprint of one page.

    The feed's declared language wins over the page's `<html lang>` (`ingest.extract.language`)."""
    extraction = extract_page(html, url)
    if declared is None and extraction.html_lang:
        declared = LanguageHint(extraction.html_lang, "page")
    language = tag_language(f"{extraction.title}\n{extraction.body}", declared, site)
    fingerprint = minhash.fingerprint(extraction.body)
    if fingerprint:
        extraction = replace(extraction, minhash=fingerprint.minhash, lsh_bands=fingerprint.bands)
    return extraction, language


def tag_feed_text(
    title: str,
    summary: str,
    declared: LanguageHint | None = None,
    site: Mapping[str, int] | None = None,
) -> LanguageTag:
    """The language of a feed-only article, from its feed's title and summary."""
    return tag_language(f"{title}\n{summary}", declared, site)


def warm_up() -> None:
    """Load what the first page would load lazily: the language model, the MinHash
    permutations."""
    tag_language("warm up the language model")
    minhash.fingerprint(" ".join(f"word{i}" for i in range(minhash.PARAMS.min_shingles + 8)))


def worker_count(configured: int) -> int:
    """`configured` processes, or one per CPU core when it is 0."""
    return configured or os.cpu_count() or 1


@contextmanager
def extraction_pool(configured_workers: int) -> Iterator[Executor]:
    """The pool `analyse_page` runs in: processes from a preloaded forkserver (a fork of a
    process holding threads is unsafe), or a single thread when one worker is asked for.

    It works however this process was started: by a console script (`airflow`, whose
    `__main__` the workers never re-run: see `ingest.extract.preload`), in a task process of
    any Airflow executor, or inside a daemonic Celery prefork worker (see `_children_allowed`).
    The workers exit when this process does, even when it is killed (`_exit_with_owner`),
    and leave SIGINT and SIGTERM to it (`_leave_signals_to_owner`).
    """
    workers = worker_count(configured_workers)
    if workers == 1:
        with ThreadPoolExecutor(max_workers=1) as executor:
            yield executor
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["ingest.extract.preload"])
    with (
        _children_allowed(),
        ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_start_worker
        ) as executor,
    ):
        # Start the forkserver now, not at the first page: starting it blocks the caller until
        # it has loaded trafilatura and the language model (seconds, more on a busy machine),
        # which inside the run's event loop froze the pages being fetched until they timed out.
        executor.submit(os.getpid).result()
        yield executor


@contextmanager
def _children_allowed() -> Iterator[None]:
    """Let this process start the pool's processes while the pool is open, also when it is
    a daemonic process or its multiprocessing identity is Celery's.

    A Celery prefork worker (and the Airflow task process it forks) is daemonic, and
    multiprocessing refuses children to a daemonic process because it is killed with its
    parent and would leave them orphaned. These cannot be: each worker exits when this
    process does (`_exit_with_owner`), and the pool is shut down before this returns.
    Celery's billiard also installs its own process object as multiprocessing's current
    process, whose authentication key multiprocessing refuses to send to a new process.
    So for the pool's lifetime multiprocessing sees a non-daemonic process of its own.
    """
    process = multiprocessing.current_process()
    if isinstance(process, BaseProcess) and not process.daemon:
        yield
        return
    log.info(
        "extraction: %s is a daemonic process (a Celery prefork worker?); its extraction "
        "workers are started anyway and exit with it",
        process.name,
    )
    # A process object never started stands for this one: multiprocessing's own kind, not
    # daemonic, with this process's name and authentication key.
    owner = multiprocessing.Process(name=process.name)
    owner.daemon = False
    owner.authkey = bytes(process.authkey)
    mp_process._current_process = owner  # type: ignore[attr-defined]
    try:
        yield
    finally:
        mp_process._current_process = process  # type: ignore[attr-defined]


def _start_worker() -> None:
    """Initializer of every pool process."""
    _leave_signals_to_owner()
    _exit_with_owner()


def _leave_signals_to_owner() -> None:
    """Ignore SIGINT and SIGTERM: the owner decides how its run stops (`ingest.interrupt`).

    Ctrl-C sends SIGINT to the whole process group, and systemd SIGTERM to the whole cgroup:
    a worker that died of it (printing a KeyboardInterrupt traceback) would break the pool
    under the pages the owner lets finish. The forkserver ignores SIGINT itself but restores
    the default in the processes it forks."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)


def _exit_with_owner() -> None:
    """Exit as soon as the process that owns the pool is gone, killed or not.

    A worker would otherwise outlive it, waiting on its task queue (whose write end it
    holds itself), and keep the forkserver alive too (each worker holds the pipe whose
    closing tells the forkserver to stop)."""
    owner = multiprocessing.parent_process()
    if owner is None:
        return
    threading.Thread(target=_exit_after, args=(owner,), name="exit-with-owner", daemon=True).start()


def _exit_after(owner: BaseProcess) -> None:
    owner.join()  # returns when the owner's end of the pipe it started this process through closes
    os._exit(1)
