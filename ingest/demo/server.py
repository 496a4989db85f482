"""The demo's local web server: many recorded news sites on 127.0.0.1, one per Host name.

It serves what `ingest.demo.site.build_site` wrote (`<site>/<host>/<path>`) with the validators
real sites send (ETag, Last-Modified) and answers conditional requests with 304, so a re-run
fetches nothing. Every request is logged (`DemoServer.log`) for tests and benchmarks.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import TCPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

from ingest.errors import ConfigError

_log = logging.getLogger(__name__)
# --- serving -------------------------------------------------------------------------------

_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
_HTML = "text/html; charset=utf-8"
_LEGACY_HTML = "text/html"
# News URLs seldom end in an extension (and CBC's `…-1.7287711` ends in a false one), so
# anything not listed here is a page.
_CONTENT_TYPES = {
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".pdf": "application/pdf",
}
_FEED_TYPES = {_CONTENT_TYPES[".rss"], _CONTENT_TYPES[".atom"], _CONTENT_TYPES[".xml"]}
_ROBOTS_ALLOW_ALL = b"User-agent: *\nAllow: /\n"
_ROBOTS_MODIFIED = datetime(2021, 1, 1, tzinfo=UTC).timestamp()  # fixed: stable validators
_NOT_FOUND = b"<!DOCTYPE html><title>404 Not Found</title><h1>Not Found</h1>\n"


def site_file(site_dir: Path, host: str, path: str) -> Path | None:
    """Where `path` on virtual `host` lives under `site_dir`; None if it could escape it.

    Used by the build and by the server alike, so a page is written exactly where it is
    looked for. A path ending in `/` is that folder's index.html.
    """
    if not _HOST.fullmatch(host):
        return None
    names = [name for name in unquote(path).split("/") if name]
    # Hidden names cover `..` and `.` (no escaping site_dir) and the build's own marker.
    if any(name.startswith(".") or "\x00" in name or "\\" in name for name in names):
        return None
    file = site_dir.joinpath(host, *names)
    return file / "index.html" if not names or path.endswith("/") else file


@dataclass(frozen=True)
class ServedRequest:
    """One request the demo server answered."""

    method: str
    host: str
    path: str  # without the query string
    status: int
    content_type: str | None  # of the resource (also on a 304); None on a 404


class RequestLog:
    """Every request served, thread-safe; tests and benchmarks count what a run fetched."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[ServedRequest] = []

    def add(self, request: ServedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def requests(self) -> list[ServedRequest]:
        with self._lock:
            return list(self._requests)

    def count(
        self,
        *,
        host: str | None = None,
        path: str | None = None,
        status: int | None = None,
        content_type: str | None = None,
        method: str | None = None,
    ) -> int:
        """Requests matching every given filter; `content_type` matches by prefix."""
        return sum(
            1
            for r in self.requests()
            if (host is None or r.host == host)
            and (path is None or r.path == path)
            and (status is None or r.status == status)
            and (method is None or r.method == method)
            and (content_type is None or (r.content_type or "").startswith(content_type))
        )

    def page_requests(self) -> int:
        """Requests for anything but feeds and robots.txt, whatever the answer (304, 404 too)."""
        return sum(
            1
            for r in self.requests()
            if r.path != "/robots.txt" and (r.content_type or "") not in _FEED_TYPES
        )

    def hits(self) -> Counter[str]:
        """Request count per `host/path`."""
        return Counter(f"{r.host}{r.path}" for r in self.requests())

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()


@dataclass(frozen=True)
class _Resource:
    data: bytes
    content_type: str
    modified: float  # POSIX time, whole seconds are what Last-Modified can say

    @property
    def etag(self) -> str:
        # From the content, not the file's mtime or inode: a rebuild keeps it.
        return '"' + hashlib.blake2b(self.data, digest_size=12).hexdigest() + '"'

    @property
    def last_modified(self) -> str:
        return formatdate(int(self.modified), usegmt=True)


def _find(site_dir: Path, host: str, path: str) -> _Resource | None:
    file = site_file(site_dir, host, path)
    if file is not None and file.is_file():
        data = file.read_bytes()
        content_type = _CONTENT_TYPES.get(file.suffix.lower(), _HTML)
        if content_type == _HTML and not _is_utf8(data):
            # A legacy page (ISO-8859-2, windows-1251): like many such sites, the server
            # names no charset and the page declares its own in a <meta> tag.
            content_type = _LEGACY_HTML
        return _Resource(data, content_type, file.stat().st_mtime)
    if path == "/robots.txt" and (site_dir / host).is_dir() and _HOST.fullmatch(host):
        return _Resource(_ROBOTS_ALLOW_ALL, _CONTENT_TYPES[".txt"], _ROBOTS_MODIFIED)
    return None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _not_modified(headers: Message, resource: _Resource) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present, else If-Modified-Since."""
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in tags or resource.etag in tags
    if_modified_since = headers.get("If-Modified-Since")
    if not if_modified_since:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False  # an unparsable date is ignored, as the RFC says
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return int(resource.modified) <= since.timestamp()


def _request_host(header: str) -> str:
    host = header.strip().lower()
    name, _, port = host.rpartition(":")
    return name if name and port.isdigit() else host


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True
    # Don't wait for handler threads on close: a client's idle keep-alive connection
    # would otherwise hold `stop()` until its socket times out.
    block_on_close = False

    def __init__(self, address: tuple[str, int], site_dir: Path, log: RequestLog) -> None:
        self.site_dir = site_dir
        self.log = log
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), slow on some offline
        # machines and useless here.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-response is routine in tests; keep stderr quiet.
        _log.debug("demo server: error answering %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _SiteServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real sites; every answer has a length
    server_version = "mediamon-demo/0.1"
    sys_version = ""
    timeout = 30  # an idle keep-alive connection frees its thread after this

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is in `RequestLog`, not on stderr."""

    def _answer(self, send_body: bool) -> None:
        host = _request_host(self.headers.get("Host", ""))
        path = urlsplit(self.path).path or "/"
        resource = _find(self.server.site_dir, host, path)
        if resource is None:
            self._record(host, path, 404, None)
            self._send(404, {"Content-Type": _HTML}, _NOT_FOUND, send_body)
            return
        validators = {"ETag": resource.etag, "Last-Modified": resource.last_modified}
        if _not_modified(self.headers, resource):
            self._record(host, path, 304, resource.content_type)
            self._send(304, validators, b"", send_body=False)
        else:
            self._record(host, path, 200, resource.content_type)
            headers = {"Content-Type": resource.content_type, **validators}
            self._send(200, headers, resource.data, send_body)

    def _record(self, host: str, path: str, status: int, content_type: str | None) -> None:
        # Before answering: once a client has its response, the log already holds it.
        self.server.log.add(ServedRequest(self.command, host, path, status, content_type))

    def _send(self, status: int, headers: dict[str, str], body: bytes, send_body: bool) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:  # a 304 has no body, and its length would describe the 200's
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)


class DemoServer:
    """The demo site on 127.0.0.1, one virtual host per folder of `site_dir`.

    Binds at construction (so `.port` is known before `start()` when `port=0`), serves from
    a background thread after `start()`, and is a context manager (`with` starts and stops).
    Answers GET and HEAD with ETag and Last-Modified, 304 to a matching conditional GET,
    an allow-all `/robots.txt` on every host without one, and 404 to anything unknown.
    """

    def __init__(self, site_dir: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        _require_loopback(host)
        self.log = RequestLog()
        try:
            self._httpd = _SiteServer((host, port), Path(site_dir), self.log)
        except OSError as exc:
            raise ConfigError(
                f"demo server cannot listen on {host}:{port} ({exc.strerror}); "
                "is another demo running? choose another port"
            ) from None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def site_dir(self) -> Path:
        return self._httpd.site_dir

    def page_requests(self) -> int:
        """How many requests asked for a page (not a feed, not robots.txt) since the last clear."""
        return self.log.page_requests()

    def start(self) -> DemoServer:
        """Serve from a daemon thread (a no-op if already serving)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, name=f"demo-server-{self.port}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (for a foreground command)."""
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _require_loopback(host: str) -> None:
    # A demo and test server: nothing outside this machine has any business with it.
    try:
        loopback = ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(f"the demo server binds to a 127.x.x.x address only, not {host!r}")
