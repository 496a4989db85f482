"""Fault injection for integration tests: a reverse proxy in front of the real Elasticsearch.

The client talks to the proxy, the proxy talks to the real node, so mappings, analyzers and
bulk item errors stay real; the proxy only adds what a busy or failing cluster does:

    with EsFaultProxy(es_url) as proxy:
        proxy.reject_next("/_bulk", times=2, status=429)   # cluster too busy, twice
        proxy.go_away()                                    # connections refused from now on
        proxy.hang()                                       # requests unanswered from now on
        proxy.corrupt_document(doc_id, {"published_at": "not a date"})  # a real 400 item

Binds 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit


def _error_body(status: int, error_type: str) -> bytes:
    if not error_type:
        return b'{"error":"injected by EsFaultProxy","status":%d}' % status
    cause = {"type": error_type, "reason": "[parent] Data too large (injected by EsFaultProxy)"}
    return json.dumps({"error": {"root_cause": [cause], **cause}, "status": status}).encode()


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class EsFaultProxy:
    """A loopback HTTP proxy to one Elasticsearch node that misbehaves on request."""

    def __init__(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 9200)
        self.requests: Counter[str] = Counter()  # "METHOD path-without-query" -> count
        self._lock = threading.Lock()
        # (path fragment, body fragment, status, error type)
        self._rejections: list[tuple[str, bytes, int, str]] = []
        self._vanish_on: str | None = None
        self._hanging = threading.Event()
        self._closed = threading.Event()
        self._bodies = threading.local()  # the body of the rejection taken, per handler thread
        self._corruptions: dict[str, dict[str, object]] = {}  # doc id -> fields to set
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def reject_next(
        self,
        path_fragment: str,
        times: int = 1,
        status: int = 429,
        error_type: str = "",
        body_fragment: str = "",
    ) -> None:
        """Answer the next `times` requests whose path contains `path_fragment` (and whose
        body `body_fragment`, to pick one kind of search) with `status`, and with an error
        body of `error_type` as Elasticsearch writes one, if given
        (`circuit_breaking_exception`: the parent breaker's "Data too large")."""
        rejection = (path_fragment, body_fragment.encode(), status, error_type)
        with self._lock:
            self._rejections.extend([rejection] * times)

    def corrupt_document(self, doc_id: str, fields: dict[str, object]) -> None:
        """Set `fields` in the source of every create/index of `doc_id` in a forwarded
        `_bulk` body (until `corrupt_document(doc_id, {})`). The node then answers the bulk
        with a 200 whose item for that document is its own real error, e.g. a 400
        mapper_parsing_exception for `{"published_at": "not a date"}`."""
        with self._lock:
            if fields:
                self._corruptions[doc_id] = dict(fields)
            else:
                self._corruptions.pop(doc_id, None)

    def _corrupt_bulk(self, body: bytes) -> bytes:
        with self._lock:
            corruptions = dict(self._corruptions)
        if not corruptions:
            return body
        lines = [line for line in body.split(b"\n") if line.strip()]  # NDJSON
        i = 0
        while i < len(lines):
            ((op, meta),) = json.loads(lines[i]).items()
            if op == "delete":  # the only action without a source line
                i += 1
                continue
            if op in ("create", "index") and meta.get("_id") in corruptions:
                source = json.loads(lines[i + 1])
                source.update(corruptions[meta["_id"]])
                lines[i + 1] = json.dumps(source).encode()
            i += 2
        return b"\n".join(lines) + b"\n"

    def go_away_on(self, path_fragment: str) -> None:
        """Vanish at the first request whose path contains `path_fragment`: that request gets
        no answer (the connection drops) and every later connection is refused."""
        with self._lock:
            self._vanish_on = path_fragment

    def go_away(self) -> None:
        """Stop answering: new connections are refused, as when the cluster is down."""
        self._server.shutdown()
        self._server.server_close()

    def hang(self) -> None:
        """Leave every request from now on unanswered, on open connections too, as a stuck
        cluster does, until the proxy is closed (then their connections drop)."""
        self._hanging.set()

    def __enter__(self) -> EsFaultProxy:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):  # already gone
            self.go_away()

    def _take_rejection(self, path: str) -> int | None:
        """The status due for `path`, if any; its body is kept for this thread's reply.
        (Tests wrap this method to act on the requests that pass.)"""
        rejection = self._take(path)
        if rejection is None:
            return None
        self._bodies.last = rejection[1]
        return rejection[0]

    def _take(self, path: str) -> tuple[int, bytes] | None:
        """The status and body of the rejection due for `path`, if any."""
        body = getattr(self._bodies, "request", b"")  # the request's, set by the handler
        with self._lock:
            for i, (fragment, in_body, status, error_type) in enumerate(self._rejections):
                if fragment in path and in_body in body:
                    del self._rejections[i]
                    return status, _error_body(status, error_type)
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy._lock:
                    proxy.requests[f"{self.command} {self.path.split('?')[0]}"] += 1
                if proxy._hanging.is_set():
                    proxy._closed.wait()
                    self.close_connection = True
                    self.connection.close()
                    return
                if proxy._vanish_on and proxy._vanish_on in self.path:
                    # Refuse new connections, and drop this one without a word.
                    threading.Thread(target=proxy.go_away, daemon=True).start()
                    self.close_connection = True
                    self.connection.close()
                    return
                proxy._bodies.request = body or b""
                status = proxy._take_rejection(self.path)
                if status is not None:
                    self._reply(status, proxy._bodies.last, {})
                    return
                if body and self.path.split("?")[0].endswith("/_bulk"):
                    body = proxy._corrupt_bulk(body)
                upstream = http.client.HTTPConnection(*proxy.target, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                passed = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
                upstream.close()
                self._reply(response.status, data, passed)

            def _reply(self, status: int, data: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if "content-type" not in {k.lower() for k in headers}:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: counted in proxy.requests

        return Handler
