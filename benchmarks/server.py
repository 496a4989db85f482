"""The demo's web server with a network's latency, in a process of its own.

`ingest.demo.server.DemoServer` already serves many virtual hosts from a folder, with ETag,
Last-Modified and 304s, and logs every request. The benchmark adds what a loopback server
lacks: every response (feeds, pages, robots.txt, 304s alike) waits 50-150 ms first, a
deterministic jitter from a hash of the host and path, so runs are comparable.

The server runs in a child process so that neither its CPU time nor its memory counts as the
pipeline's, and the pipeline's event loop does not share a GIL with it.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ingest.demo import server as demo_server

MIN_LATENCY = 0.050
MAX_LATENCY = 0.150


def latency(host: str, path: str) -> float:
    """Seconds to wait before answering `host` `path`: 50-150 ms, always the same for one URL."""
    digest = hashlib.blake2b(f"{host}{path}".encode(), digest_size=4).digest()
    fraction = int.from_bytes(digest, "big") / 0xFFFFFFFF
    return MIN_LATENCY + fraction * (MAX_LATENCY - MIN_LATENCY)


# DemoServer has no hook for a delay, so its (private) handler is extended here; the rest of
# its behaviour - validators, 304s, robots.txt, the request log - is the demo's own.
class _DelayedHandler(demo_server._Handler):
    def _answer(self, send_body: bool) -> None:
        host = demo_server._request_host(self.headers.get("Host", ""))
        time.sleep(latency(host, self.path.split("?")[0]))
        super()._answer(send_body)


class LatencyServer(demo_server.DemoServer):
    """`DemoServer` whose every response is delayed by `latency(host, path)`."""

    def __init__(self, site_dir: Path, port: int = 0) -> None:
        super().__init__(site_dir, port=port)
        self._httpd.RequestHandlerClass = _DelayedHandler
        # Up to this many connections wait in the accept queue (the default 5 drops a burst).
        self._httpd.request_queue_size = 128


def _serve(site_dir: Path, control: Connection) -> None:
    """Child process: serve `site_dir`, answer the parent's questions until told to stop."""
    server = LatencyServer(site_dir).start()
    control.send(server.port)
    while True:
        command = control.recv()
        if command == "stop":
            server.stop()
            control.send(None)
            return
        if command == "clear":
            server.log.clear()
            control.send(None)
        elif command == "counts":
            control.send(_counts(server.log))


def _counts(log: demo_server.RequestLog) -> dict[str, Any]:
    requests = log.requests()
    pages = [r for r in requests if r.path != "/robots.txt" and not r.path.startswith("/feeds/")]
    return {
        "requests": len(requests),
        "page_requests": len(pages),
        "pages_200": sum(1 for r in pages if r.status == 200),
        "feeds_304": sum(1 for r in requests if r.path.startswith("/feeds/") and r.status == 304),
    }


class ServerProcess:
    """A `LatencyServer` in a child process; a context manager that stops it on exit."""

    def __init__(self, site_dir: Path) -> None:
        context = multiprocessing.get_context("spawn")
        self._control, child_end = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(site_dir, child_end), name="bench-server", daemon=True
        )
        self._process.start()
        if not self._control.poll(60):
            self._process.kill()
            raise RuntimeError("the benchmark server did not start within 60 s")
        self.port: int = self._control.recv()
        self.pid: int = self._process.pid or 0

    def counts(self) -> dict[str, Any]:
        """Requests served since the last `clear()`: all, pages, pages answered 200, 304s."""
        self._control.send("counts")
        counts: dict[str, Any] = self._control.recv()
        return counts

    def clear(self) -> None:
        self._control.send("clear")
        self._control.recv()

    def stop(self) -> None:
        if self._process.is_alive():
            self._control.send("stop")
            self._control.recv()
            self._process.join(timeout=10)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
