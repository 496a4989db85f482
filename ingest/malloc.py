"""glibc malloc tuning for the run's main process.

glibc serves a block of at least the *mmap threshold* with its own mmap and unmaps it when
freed. The threshold starts at 128 KiB but rises to the size of every mmapped block freed
(up to 32 MiB). After the first few pages went by, pages (~270 KB decoded, plus their bytes
and pickles) and Elasticsearch response bodies were carved from the heaps of the main
process's threads (the event loop, `to_thread` workers, the process pool's feeder and result
threads), freed between small blocks that outlive them, and kept: measured over one run of
8,000 articles, the main process grew from 139 MB at 2,000 articles to 164 MB at 8,000 while
the memory Python held stayed flat (tracemalloc). With the threshold fixed at 128 KiB it was
121, 125 and 119 MB at 2,000, 5,000 and 8,000 articles (peak 144 MB against 173).
"""

from __future__ import annotations

import ctypes
import sys

from ingest import config

__all__ = ["MMAP_THRESHOLD", "fix_mmap_threshold"]

MMAP_THRESHOLD = 128 * 1024
_M_MMAP_THRESHOLD = -3  # from malloc.h


def fix_mmap_threshold(set_by_operator: bool | None = None) -> bool:
    """Fix glibc's mmap threshold at `MMAP_THRESHOLD`, unless the operator set it
    (`set_by_operator`; by default, whether the environment has `MALLOC_MMAP_THRESHOLD_`,
    as `config.mmap_threshold_set_by_operator` says); elsewhere than glibc, nothing. True
    if it was set."""
    if set_by_operator is None:
        set_by_operator = config.mmap_threshold_set_by_operator()
    if not sys.platform.startswith("linux") or set_by_operator:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # a C library without mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
