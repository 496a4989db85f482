"""Peak memory and CPU time of a process tree: the pipeline process and everything under it.

The extraction workers are children of the pool's forkserver, itself a child of the pipeline
process, so the whole tree is walked on every sample (Linux /proc). For memory, two sums:

- RSS summed over the tree: `peak_rss_mb`. It counts a page that forked processes share
  once per process, so it overstates what the tree costs the machine;
- PSS (proportional set size, /proc/<pid>/smaps_rollup): each shared page divided among
  its sharers, i.e. what the tree really occupies. Costly to read, so sampled every second.

CPU time (user + system) is kept per process role - main (the event loop and its threads),
forkserver, workers - from the last sample of each process, for the report's "where the
time goes". Sampled every 100 ms from a thread of the harness, not of the measured process.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
INTERVAL = 0.1
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
PSS_EVERY = 10  # samples: PSS makes the kernel walk page tables, ~5 ms per process


@dataclass(frozen=True)
class MemoryPeak:
    rss_mb: float  # peak of the tree's summed RSS
    pss_mb: float  # peak of the tree's summed PSS
    processes: int  # most processes seen in the tree at once
    samples: int
    at_peak: dict[str, float]  # RSS MB of each role at the RSS peak ("worker" summed)
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # per role, whole run


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds so far) of `pid`, None if it has ended."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def cpu_seconds(pid: int) -> float:
    """CPU time `pid` has used so far (0 if it has ended)."""
    stat = _stat(pid)
    return stat[1] if stat else 0.0


def _children(pid: int) -> list[int]:
    children: list[int] = []
    try:
        for task in (PROC / str(pid) / "task").iterdir():
            children += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass  # ended meanwhile
    return children


def process_tree(root: int) -> dict[int, int]:
    """`root` and its live descendants, each with its parent pid.

    Walks /proc/<pid>/task/<tid>/children from the root: reading every process's stat
    instead would cost the machine ~6 ms per sample.
    """
    tree, todo = {root: 0}, [root]
    while todo:
        parent = todo.pop()
        for child in _children(parent):
            if child not in tree:
                tree[child] = parent
                todo.append(child)
    return tree


def _rss_mb(pid: int) -> float:
    try:
        resident = int((PROC / str(pid) / "statm").read_text().split()[1])
    except (OSError, IndexError):
        return 0.0  # ended meanwhile
    return resident * PAGE / 2**20


def _kilobytes(path: Path, field: str) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass  # the process ended between listing and reading
    return 0


def _role(pid: int, tree: dict[int, int], root: int) -> str:
    if pid == root:
        return "main"
    try:
        command = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "other"
    if b"forkserver" in command and tree[pid] == root:
        return "forkserver"
    if b"resource_tracker" in command:
        return "resource_tracker"
    return "worker"  # forked by the forkserver (or by main, with another start method)


class TreeSampler:
    """Samples the tree under `pid` until stopped; `stop()` gives the peaks and CPU times."""

    def __init__(self, pid: int, interval: float = INTERVAL) -> None:
        self._pid = pid
        self._interval = interval
        self._stop = threading.Event()
        self._rss = self._pss = 0.0
        self._processes = self._samples = 0
        self._at_peak: dict[str, float] = {}
        self._cpu: dict[int, tuple[str, float]] = {}  # pid -> (role, CPU seconds last seen)
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)

    def start(self) -> TreeSampler:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set() and (PROC / str(self._pid)).exists():
            self._sample()
            self._stop.wait(self._interval)

    def _sample(self) -> None:
        tree = process_tree(self._pid)
        roles = {pid: _role(pid, tree, self._pid) for pid in tree}
        rss: dict[str, float] = defaultdict(float)
        for pid, role in roles.items():
            rss[role] += _rss_mb(pid)
            self._cpu[pid] = (role, max(cpu_seconds(pid), self._cpu.get(pid, ("", 0.0))[1]))
        if sum(rss.values()) > self._rss:
            self._rss, self._at_peak = sum(rss.values()), rss
        if self._samples % PSS_EVERY == 0:
            pss = sum(_kilobytes(PROC / str(pid) / "smaps_rollup", "Pss:") for pid in tree)
            self._pss = max(self._pss, pss / 1024)
        self._processes = max(self._processes, len(tree))
        self._samples += 1

    def stop(self) -> MemoryPeak:
        self._stop.set()
        self._thread.join()
        cpu: dict[str, float] = defaultdict(float)
        for role, seconds in self._cpu.values():
            cpu[role] += seconds
        return MemoryPeak(
            rss_mb=round(self._rss, 1),
            pss_mb=round(self._pss, 1),
            processes=self._processes,
            samples=self._samples,
            at_peak={role: round(mb, 1) for role, mb in self._at_peak.items()},
            cpu_seconds={role: round(seconds, 2) for role, seconds in cpu.items()},
        )
