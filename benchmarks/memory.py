"""Peak memory of a process tree: the pipeline process and every process under it.

The extraction workers are children of the pool's forkserver, itself a child of the pipeline
process, so the whole tree is walked on every sample. Two sums are kept (Linux /proc):

- RSS, summed over the tree: what `peak_rss_mb` reports. It counts pages that forked
  processes share once per process, so it overstates the tree's real footprint a little;
- PSS (proportional set size, /proc/<pid>/smaps_rollup): shared pages split between their
  sharers, i.e. what the tree really costs the machine.

Sampled every 50 ms from a thread of the harness (not the measured process).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
INTERVAL = 0.05


@dataclass(frozen=True)
class MemoryPeak:
    rss_mb: float  # peak of the tree's summed RSS
    pss_mb: float  # peak of the tree's summed PSS
    processes: int  # most processes seen in the tree at once
    samples: int
    at_peak: dict[str, float]  # RSS MB of each process at the RSS peak, by pid and name


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        # The command name (field 2) is in parentheses and may hold spaces: split after it.
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def process_tree(root: int) -> list[int]:
    """`root` and all of its descendants that are alive now."""
    children = _children_map()
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def _kilobytes(path: Path, field: str) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass  # the process ended between listing and reading
    return 0


def _name(pid: int) -> str:
    try:
        argv = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    # multiprocessing children all run `python -c ...`: their last argument tells them apart
    return " ".join(a.decode(errors="replace") for a in argv[-2:])[-60:]


def tree_memory(root: int) -> tuple[float, float, dict[str, float]]:
    """(RSS MB, PSS MB, RSS MB of each process) of the tree under `root` now."""
    pids = process_tree(root)
    each = {pid: _kilobytes(PROC / str(pid) / "status", "VmRSS:") / 1024 for pid in pids}
    pss = sum(_kilobytes(PROC / str(pid) / "smaps_rollup", "Pss:") for pid in pids)
    return sum(each.values()), pss / 1024, {f"{pid} {_name(pid)}": mb for pid, mb in each.items()}


class TreeSampler:
    """Samples the memory of the tree under `pid` until stopped; `peak()` gives the maxima."""

    def __init__(self, pid: int, interval: float = INTERVAL) -> None:
        self._pid = pid
        self._interval = interval
        self._stop = threading.Event()
        self._rss = self._pss = 0.0
        self._processes = self._samples = 0
        self._at_peak: dict[str, float] = {}
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def start(self) -> TreeSampler:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set() and os.path.exists(f"/proc/{self._pid}"):
            rss, pss, each = tree_memory(self._pid)
            if rss > self._rss:
                self._rss, self._at_peak = rss, each
            self._pss = max(self._pss, pss)
            self._processes = max(self._processes, len(each))
            self._samples += 1
            self._stop.wait(self._interval)

    def stop(self) -> MemoryPeak:
        self._stop.set()
        self._thread.join()
        return self.peak()

    def peak(self) -> MemoryPeak:
        at_peak = {name: round(mb, 1) for name, mb in self._at_peak.items()}
        return MemoryPeak(
            round(self._rss, 1), round(self._pss, 1), self._processes, self._samples, at_peak
        )
