"""How a run stops when it is asked to: SIGINT (Ctrl-C, sent to the whole process group) or
SIGTERM (sent to the main process by Airflow's task supervisor, systemd, Kubernetes).

While `stop_on_signals` is open, the first signal is a request (`StopRequest`): the run takes
no new work, abandons the pages not yet fetched, finishes what is being extracted and stored,
stores its report marked interrupted and raises `RunInterrupted` (`ingest.pipeline`). A second
signal ends the process at once, with one line and the same status: the feeds' leases then run
out by themselves, as after a kill. The extraction workers ignore both signals
(`ingest.extract.pool`): this process decides, and they exit when it does.

Signal handlers belong to the main thread: called from another thread, `stop_on_signals` leaves
the signals to whoever owns them. The handlers in place before (Airflow's, pytest's, Python's
KeyboardInterrupt) are put back afterwards, and a signal that came once the run could no longer
stop early (its work saved) is passed on to them rather than lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing.util
import os
import signal
import threading
from collections.abc import Awaitable, Iterator
from types import FrameType
from typing import Any, TypeVar

__all__ = ["STOP_SIGNALS", "StopRequest", "stop_on_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

T = TypeVar("T")


class StopRequest:
    """Whether, and by which signal, the run was asked to stop; awaitable inside its loop."""

    def __init__(self) -> None:
        self.signal_number: int | None = None
        self.honoured = False  # the run acted on it (stopped early): not passed on
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    @property
    def requested(self) -> bool:
        return self.signal_number is not None

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signal_number).name if self.signal_number else ""

    def ask(self, signal_number: int) -> None:
        """Ask the run to stop (the signal handler calls this; so can a caller)."""
        self.signal_number = signal_number
        if self._loop is not None and self._event is not None:
            # Wakes the loop from its select(); setting the event here, in the middle of
            # whatever the loop was doing, would not be safe.
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to wake
                self._loop.call_soon_threadsafe(self._event.set)

    def bind(self) -> None:
        """Make the request awaitable in the running loop (call once, inside it)."""
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        if self.requested:
            self._event.set()

    async def unless_stopped(self, work: Awaitable[T]) -> T | None:
        """`work`'s result, or None if the stop request comes first: `work` is cancelled."""
        assert self._event is not None, "StopRequest.bind() first"
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._event.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:  # the stop came first, or this coroutine is cancelled itself
            stop.cancel()
            task.cancel()  # (nothing, if it is done)
        await asyncio.wait({task})
        return None if task.cancelled() else task.result()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """SIGINT and SIGTERM ask the returned request to stop while this is open."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def on_signal(signal_number: int, frame: FrameType | None) -> None:
        if request.requested:
            _stop_now(signal_number)
        request.ask(signal_number)

    previous = {number: signal.signal(number, on_signal) for number in STOP_SIGNALS}
    try:
        yield request
    except BaseException:
        _restore(previous)
        raise
    _restore(previous)
    if request.requested and not request.honoured:
        # Came too late to stop the run early: the handler in place before decides.
        signal.raise_signal(request.signal_number or signal.SIGTERM)


def _restore(previous: dict[signal.Signals, Any]) -> None:
    for number, handler in previous.items():
        # None: a handler not set from Python, which cannot be put back; the default then.
        signal.signal(number, handler if handler is not None else signal.SIG_DFL)


def _stop_now(signal_number: int) -> None:
    """The second signal: end this process now, saying so in one line."""
    name = signal.Signals(signal_number).name
    os.write(
        2,
        f"mediamon: second {name}: stopped at once, without a run report; the next run picks "
        "up what was not indexed once the feeds' leases run out\n".encode(),
    )
    # The first step of multiprocessing's own exit, quick and safe here: it unlinks the
    # extraction pool's semaphores, which the resource tracker would otherwise clean up after
    # this process, warning about them on stderr. The workers exit when this process does.
    multiprocessing.util._run_finalizers(0)  # type: ignore[attr-defined]
    os._exit(128 + signal_number)
