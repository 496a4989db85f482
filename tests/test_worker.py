"""The extraction pool: workers start from a forkserver that preloaded their libraries."""

from __future__ import annotations

import gc
from concurrent.futures import ProcessPoolExecutor

from ingest import worker


def test_pool_workers_start_from_the_preloaded_forkserver() -> None:
    # ingest.worker_preload ends with gc.freeze(): a worker forked from that forkserver
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
