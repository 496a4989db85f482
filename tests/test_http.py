"""HttpClient against real servers on 127.0.0.1: pytest-httpserver for ordinary answers, small
asyncio servers for misbehaviour (trickling, stalling, resets, missing headers, concurrency).

No test reaches beyond this machine: refused addresses are refused before any connect.
"""

from __future__ import annotations

import asyncio
import gzip
import shutil
import socket
import ssl
import struct
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from ipaddress import ip_network
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pytest_httpserver import HTTPServer

from ingest.config import FetchLimits
from ingest.errors import FetchError, PermanentFetchError, TransientFetchError
from ingest.fetch.client import FeedResponse, HttpClient
from ingest.models import Page

T = TypeVar("T")
LOCAL = (ip_network("127.0.0.0/8"),)
LIMITS = FetchLimits(connect_timeout=2.0, read_timeout=2.0, deadline=5.0, max_bytes=64 * 1024)
HTML = "<!doctype html><html><head><title>Grens</title></head><body>Poolse grens</body></html>"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def page(url: str, *, limits: FetchLimits = LIMITS, **kw: Any) -> Page:
    kw.setdefault("egress_allow", LOCAL)
    async with HttpClient(limits, **kw) as http:
        return await http.fetch_page(url)


def fetch_error(coro: Coroutine[Any, Any, Any]) -> FetchError:
    with pytest.raises(FetchError) as info:
        run(coro)
    return info.value


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    srv = HTTPServer(host="127.0.0.1", port=0)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def web(server: HTTPServer) -> Iterator[HTTPServer]:
    server.clear()
    yield server
    server.clear()


Respond = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(respond: Respond) -> AsyncIterator[int]:
    """A one-request-per-connection HTTP server that lets `respond` misbehave at will."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            await respond(head, writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hanging up early is what several tests provoke
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield srv.sockets[0].getsockname()[1]
    finally:
        srv.close()
        await srv.wait_closed()


def head_bytes(headers: dict[str, str], status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", "Connection: close", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# --- egress guard ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/",
        "http://localhost:9/",
        "http://derstandard.at.localhost:9/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::1]/",
        "http://[fc00::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a00:1]/",  # NAT64 form of 10.0.0.1
        "http://[2002:7f00:1::]/",  # 6to4 form of 127.0.0.1
        "http://2130706433/",  # 127.0.0.1 written as one number: caught after resolution
    ],
)
def test_guard_refuses_non_public_addresses_before_connecting(url: str) -> None:
    # No server listens on these; only a refusal before connecting gives this reason quickly.
    start = time.monotonic()
    error = fetch_error(page(url, egress_allow=()))
    assert isinstance(error, PermanentFetchError)
    assert (error.reason, error.url) == ("egress_refused", url)
    assert time.monotonic() - start < 1


def test_guard_allows_listed_networks_and_keeps_the_virtual_host(web: HTTPServer) -> None:
    host = f"derstandard.at.localhost:{web.port}"
    web.expect_request("/artikel", headers={"Host": host}).respond_with_data(
        HTML, content_type="text/html"
    )
    assert run(page(f"http://{host}/artikel", respect_robots=False)).html == HTML


def test_guard_allows_127_only_with_egress_allow(web: HTTPServer) -> None:
    web.expect_request("/a").respond_with_data(HTML, content_type="text/html")
    url = web.url_for("/a")
    assert fetch_error(page(url, egress_allow=(), respect_robots=False)).reason == "egress_refused"
    assert run(page(url, respect_robots=False)).final_url == url
    ipv6_only = (ip_network("::1/128"),)
    error = fetch_error(page(url, egress_allow=ipv6_only, respect_robots=False))
    assert error.reason == "egress_refused"


def test_guard_checks_every_hop_of_a_redirect(web: HTTPServer) -> None:
    web.expect_request("/go").respond_with_data(
        "", status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}
    )
    error = fetch_error(page(web.url_for("/go"), respect_robots=False))
    assert (error.reason, error.url) == ("egress_refused", web.url_for("/go"))


def test_guard_checks_every_resolved_address_and_connects_to_the_checked_one(
    web: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {"news.example": ["127.0.0.1"], "mixed.example": ["127.0.0.1", "10.0.0.1"]}
    lookups: Counter[str] = Counter()

    async def scenario() -> tuple[Any, FetchError]:
        loop = asyncio.get_running_loop()

        async def getaddrinfo(host: str, port: int, **kw: Any) -> list[Any]:
            lookups[host] += 1
            if host not in answers:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answers[host]]

        monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
        ok = await page(f"http://news.example:{web.port}/n", respect_robots=False)
        with pytest.raises(FetchError) as info:
            await page(f"http://mixed.example:{web.port}/n", respect_robots=False)
        return ok, info.value

    web.expect_request("/n", headers={"Host": f"news.example:{web.port}"}).respond_with_data(
        HTML, content_type="text/html"
    )
    ok, refused = run(scenario())
    assert ok.html == HTML
    assert refused.reason == "egress_refused"
    # One lookup per name: the socket went to the checked address, nothing re-resolved it.
    assert lookups == {"news.example": 1, "mixed.example": 1}


def test_dns_failure_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        async def getaddrinfo(host: str, port: int, **kw: Any) -> list[Any]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
        await page("http://no-such-host.invalid/x", respect_robots=False)

    error = fetch_error(scenario())
    assert isinstance(error, TransientFetchError)
    assert error.reason == "dns_error"


def test_environment_proxies_cannot_bypass_the_guard(
    web: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://10.0.0.1:3128")
    web.expect_request("/p").respond_with_data(HTML, content_type="text/html")
    assert run(page(web.url_for("/p"), respect_robots=False)).html == HTML


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_verifies_the_original_name_while_connecting_to_the_checked_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=secure.localhost", "-addext", "subjectAltName=DNS:secure.localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client's only trusted CA
    tls = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    tls.expect_request("/").respond_with_data(HTML, content_type="text/html")
    tls.start()
    try:
        assert run(page(f"https://secure.localhost:{tls.port}/", respect_robots=False)).html == HTML
        wrong_name = page(f"https://other.localhost:{tls.port}/", respect_robots=False)
        assert fetch_error(wrong_name).reason == "connect_error"  # certificate is not for it
    finally:
        tls.stop()


# --- redirects -------------------------------------------------------------------------------


def redirect(web: HTTPServer, path: str, to: str, status: int = 301) -> None:
    web.expect_request(path).respond_with_data("", status=status, headers={"Location": to})


def test_redirects_are_followed_and_reported(web: HTTPServer) -> None:
    redirect(web, "/old", "/mid", 301)
    redirect(web, "/mid", f"http://nos.nl.localhost:{web.port}/new#frag", 307)
    web.expect_request("/new").respond_with_data(HTML, content_type="text/html")
    result = run(page(web.url_for("/old"), respect_robots=False))
    assert (result.url, result.final_url) == (
        web.url_for("/old"),
        f"http://nos.nl.localhost:{web.port}/new",
    )


def test_redirect_cap(web: HTTPServer) -> None:
    for i in range(3):
        redirect(web, f"/r{i}", f"/r{i + 1}")
    web.expect_request("/r3").respond_with_data(HTML, content_type="text/html")
    limits = replace(LIMITS, max_redirects=2)
    assert fetch_error(page(web.url_for("/r0"), limits=limits, respect_robots=False)).reason == (
        "too_many_redirects"
    )
    assert run(page(web.url_for("/r1"), limits=limits, respect_robots=False)).status == 200


def test_redirect_loop(web: HTTPServer) -> None:
    redirect(web, "/a", "/b")
    redirect(web, "/b", web.url_for("/a"))
    assert fetch_error(page(web.url_for("/a"), respect_robots=False)).reason == "redirect_loop"


@pytest.mark.parametrize("to", ["file:///etc/passwd", "ftp://example.org/x", "javascript:x()"])
def test_redirect_to_another_scheme_is_refused(web: HTTPServer, to: str) -> None:
    redirect(web, "/s", to, 302)
    error = fetch_error(page(web.url_for("/s"), respect_robots=False))
    assert isinstance(error, PermanentFetchError)
    assert error.reason == "bad_scheme"


def test_unparseable_redirect_is_permanent() -> None:
    async def respond(head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(head_bytes({"Location": "http://[::1/"}, "302 Found"))

    async def scenario() -> None:
        async with raw_server(respond) as port:
            await page(f"http://127.0.0.1:{port}/", respect_robots=False)

    error = fetch_error(scenario())
    assert (error.reason, error.transient) == ("bad_url", False)


def test_bad_urls_are_refused() -> None:
    assert fetch_error(page("ftp://example.org/feed")).reason == "bad_scheme"
    assert fetch_error(page("http:///no-host")).reason == "bad_url"


# --- limits: concurrency, timeouts, deadline, size --------------------------------------------


def test_per_host_and_global_concurrency_limits() -> None:
    in_flight: Counter[str] = Counter()
    peak: Counter[str] = Counter()

    async def respond(head: bytes, writer: asyncio.StreamWriter) -> None:
        host = next(
            line.split(b":")[1].strip().decode()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"host:")
        )
        for key in (host, "all"):
            in_flight[key] += 1
            peak[key] = max(peak[key], in_flight[key])
        await asyncio.sleep(0.05)
        for key in (host, "all"):
            in_flight[key] -= 1
        writer.write(head_bytes({"Content-Type": "text/html", "Content-Length": "6"}) + b"<html>")

    async def scenario() -> None:
        async with raw_server(respond) as port:
            limits = replace(LIMITS, per_host=2, concurrency=3)
            async with HttpClient(limits, LOCAL, respect_robots=False) as http:
                urls = [f"http://{h}.localhost:{port}/{i}" for h in "ab" for i in range(6)]
                await asyncio.gather(*(http.fetch_page(u) for u in urls))
                assert http.stats["requests"] == 12

    run(scenario())
    assert peak["a.localhost"] == peak["b.localhost"] == 2
    assert peak["all"] == 3


def test_read_timeout_is_transient() -> None:
    async def respond(head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(head_bytes({"Content-Type": "text/html", "Content-Length": "100"}))
        await writer.drain()
        await asyncio.sleep(5)

    async def scenario() -> None:
        async with raw_server(respond) as port:
            limits = replace(LIMITS, read_timeout=0.3)
            await page(f"http://127.0.0.1:{port}/", limits=limits, respect_robots=False)

    error = fetch_error(scenario())
    assert isinstance(error, TransientFetchError)
    assert error.reason == "timeout"


def test_deadline_cuts_off_a_trickling_server() -> None:
    async def respond(head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(head_bytes({"Content-Type": "text/html", "Content-Length": "1000"}))
        for _ in range(1000):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.1)  # each read succeeds well within the read timeout

    async def scenario() -> None:
        async with raw_server(respond) as port:
            limits = replace(LIMITS, read_timeout=2.0, deadline=0.8)
            await page(f"http://127.0.0.1:{port}/", limits=limits, respect_robots=False)

    start = time.monotonic()
    error = fetch_error(scenario())
    assert isinstance(error, TransientFetchError)
    assert error.reason == "deadline"
    assert time.monotonic() - start < 2


def test_content_length_over_the_cap_is_refused_early(web: HTTPServer) -> None:
    web.expect_request("/big").respond_with_data("x" * 70_000, content_type="text/html")
    error = fetch_error(page(web.url_for("/big"), respect_robots=False))
    assert isinstance(error, PermanentFetchError)
    assert (error.reason, error.detail) == ("too_large", "Content-Length 70000 > 65536")


def test_streamed_body_over_the_cap_is_cut_off() -> None:
    async def respond(head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(head_bytes({"Content-Type": "text/html"}))  # no length: read to close
        for _ in range(100):
            writer.write(b"<p>" + b"x" * 1021)
            await writer.drain()

    async def scenario() -> None:
        async with raw_server(respond) as port:
            await page(f"http://127.0.0.1:{port}/", respect_robots=False)

    error = fetch_error(scenario())
    assert (error.reason, error.detail) == ("too_large", "more than 65536 bytes")


def test_decoded_size_counts_not_compressed_size(web: HTTPServer) -> None:
    bomb = gzip.compress(b"<html>" + b" " * 10_000_000)  # ~10 KB on the wire
    web.expect_request("/bomb").respond_with_data(
        bomb, content_type="text/html", headers={"Content-Encoding": "gzip"}
    )
    web.expect_request("/small").respond_with_data(
        gzip.compress(HTML.encode()), content_type="text/html", headers={"Content-Encoding": "gzip"}
    )
    assert fetch_error(page(web.url_for("/bomb"), respect_robots=False)).reason == "too_large"
    assert run(page(web.url_for("/small"), respect_robots=False)).html == HTML


def test_unrequested_content_encoding_is_refused(web: HTTPServer) -> None:
    web.expect_request("/br").respond_with_data(
        b"\x0b\x02\x80hello\x03", content_type="text/html", headers={"Content-Encoding": "br"}
    )
    assert fetch_error(page(web.url_for("/br"), respect_robots=False)).reason == "bad_encoding"


# --- status codes and connection failures ---------------------------------------------------


@pytest.mark.parametrize(
    ("status", "transient"),
    [(404, False), (410, False), (403, False), (400, False), (429, True), (500, True), (503, True)],
)
def test_status_mapping(web: HTTPServer, status: int, transient: bool) -> None:
    web.expect_request("/s").respond_with_data("no", status=status, content_type="text/html")
    error = fetch_error(page(web.url_for("/s"), respect_robots=False))
    assert (error.reason, error.transient) == (f"http_{status}", transient)


def test_connection_refused_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again at once: nothing listens there
    error = fetch_error(page(f"http://127.0.0.1:{port}/", respect_robots=False))
    assert (error.reason, error.transient) == ("connect_error", True)


def test_connection_reset_is_transient() -> None:
    async def respond(head: bytes, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # with linger 0: an RST, not a FIN

    async def scenario() -> None:
        async with raw_server(respond) as port:
            await page(f"http://127.0.0.1:{port}/", respect_robots=False)

    error = fetch_error(scenario())
    assert (error.reason, error.transient) == ("connect_error", True)


# --- pages: HTML only, decoding, User-Agent ---------------------------------------------------


def test_page_is_decoded_and_sent_with_the_user_agent(web: HTTPServer) -> None:
    limits = replace(LIMITS, user_agent="mediamon-test/1.0")
    for path in ("/robots.txt", "/nl"):
        web.expect_request(path, headers={"User-Agent": "mediamon-test/1.0"}).respond_with_data(
            "<html><p>Łukasjenko én de grens</p></html>".encode(),
            content_type="text/html; charset=iso-8859-1",  # wrong: the bytes are UTF-8
        )
    result = run(page(web.url_for("/nl"), limits=limits))
    assert result.html == "<html><p>Łukasjenko én de grens</p></html>"
    assert (result.status, result.content_type) == (200, "text/html")
    web.check_assertions()


def test_non_html_is_refused(web: HTTPServer) -> None:
    web.expect_request("/doc.pdf").respond_with_data(b"%PDF-1.7", content_type="application/pdf")
    web.expect_request("/x").respond_with_data(HTML, content_type="application/xhtml+xml")
    assert fetch_error(page(web.url_for("/doc.pdf"), respect_robots=False)).reason == "not_html"
    assert run(page(web.url_for("/x"), respect_robots=False)).content_type == (
        "application/xhtml+xml"
    )


@pytest.mark.parametrize(("body", "is_html"), [(b"\n<!DOCTYPE html><p>hoi", True), (b"hoi", False)])
def test_missing_content_type_is_sniffed(body: bytes, is_html: bool) -> None:
    async def respond(head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(head_bytes({"Content-Length": str(len(body))}) + body)

    async def scenario() -> Any:
        async with raw_server(respond) as port:
            return await page(f"http://127.0.0.1:{port}/", respect_robots=False)

    if is_html:
        assert run(scenario()).html == body.decode()
    else:
        assert fetch_error(scenario()).reason == "not_html"


# --- robots.txt ------------------------------------------------------------------------------


def serve_robots(web: HTTPServer, body: str, status: int = 200) -> None:
    web.expect_request("/robots.txt").respond_with_data(body, status=status)
    for path in ("/public", "/private/x"):
        web.expect_request(path).respond_with_data(HTML, content_type="text/html")


def robots_requests(web: HTTPServer) -> int:
    return sum(1 for request, _ in web.log if request.path == "/robots.txt")


def test_robots_fetched_once_per_host_and_honoured(web: HTTPServer) -> None:
    serve_robots(web, "User-agent: mediamon\nDisallow: /private\n\nUser-agent: *\nDisallow: /\n")

    async def scenario() -> Counter[str]:
        async with HttpClient(LIMITS, LOCAL) as http:
            pages = [http.fetch_page(web.url_for("/public")) for _ in range(5)]
            await asyncio.gather(*pages)
            with pytest.raises(PermanentFetchError) as info:
                await http.fetch_page(web.url_for("/private/x"))
            assert info.value.reason == "robots_disallowed"
            return http.stats

    stats = run(scenario())
    assert stats["robots_fetches"] == robots_requests(web) == 1
    assert stats["pages"] == 5
    assert stats["failed:robots_disallowed"] == 1


def test_robots_checked_on_each_redirect_hop(web: HTTPServer) -> None:
    serve_robots(web, "User-agent: *\nDisallow: /private\n")
    redirect(web, "/moved", "/private/x")
    error = fetch_error(page(web.url_for("/moved")))
    assert error.reason == "robots_disallowed"


def test_robots_4xx_means_allow_all(web: HTTPServer) -> None:
    serve_robots(web, "", status=404)
    assert run(page(web.url_for("/private/x"))).html == HTML


@pytest.mark.parametrize("status", [500, 503, 429])
def test_robots_5xx_means_disallow_all_for_the_host(web: HTTPServer, status: int) -> None:
    serve_robots(web, "down", status=status)

    async def scenario() -> list[BaseException | Any]:
        async with HttpClient(LIMITS, LOCAL) as http:
            pages = [http.fetch_page(web.url_for("/public")) for _ in range(3)]
            return await asyncio.gather(*pages, return_exceptions=True)

    for error in run(scenario()):
        assert isinstance(error, TransientFetchError)
        assert (error.reason, error.detail) == (
            "robots_unavailable",
            f"http://127.0.0.1:{web.port}/robots.txt: http_{status}",
        )
    assert robots_requests(web) == 1  # remembered for the client's life, not asked again


def test_robots_ignored_for_feeds_and_when_switched_off(web: HTTPServer) -> None:
    serve_robots(web, "User-agent: *\nDisallow: /\n")
    web.expect_request("/feed.xml").respond_with_data("<rss/>", content_type="application/rss+xml")

    async def scenario() -> tuple[FeedResponse, Counter[str]]:
        async with HttpClient(LIMITS, LOCAL) as http:
            return await http.fetch_feed(web.url_for("/feed.xml")), http.stats

    feed, stats = run(scenario())
    assert feed.content == b"<rss/>"
    assert stats["robots_fetches"] == 0
    assert run(page(web.url_for("/private/x"), respect_robots=False)).html == HTML
    assert robots_requests(web) == 0


# --- feeds -----------------------------------------------------------------------------------


def feed(url: str, **kw: Any) -> Coroutine[Any, Any, tuple[FeedResponse, Counter[str]]]:
    async def scenario() -> tuple[FeedResponse, Counter[str]]:
        async with HttpClient(LIMITS, LOCAL) as http:
            return await http.fetch_feed(url, **kw), http.stats

    return scenario()


def test_feed_returns_validators(web: HTTPServer) -> None:
    redirect(web, "/rss", "/feed.xml", 301)
    web.expect_request("/feed.xml").respond_with_data(
        "<rss/>",
        content_type="text/html",  # a feed served as HTML is feeds.py's problem, not ours
        headers={"ETag": '"v1"', "Last-Modified": "Wed, 17 Nov 2021 10:00:00 GMT"},
    )
    response, _ = run(feed(web.url_for("/rss")))
    assert response == FeedResponse(
        url=web.url_for("/rss"),
        final_url=web.url_for("/feed.xml"),
        status=200,
        content=b"<rss/>",
        etag='"v1"',
        last_modified="Wed, 17 Nov 2021 10:00:00 GMT",
    )


def test_feed_conditional_get_not_modified(web: HTTPServer) -> None:
    validators = {"If-None-Match": '"v1"', "If-Modified-Since": "Wed, 17 Nov 2021 10:00:00 GMT"}
    web.expect_request("/feed.xml", headers=validators).respond_with_data(
        "", status=304, headers={"ETag": '"v1"'}
    )
    response, stats = run(
        feed(web.url_for("/feed.xml"), etag='"v1"', last_modified=validators["If-Modified-Since"])
    )
    assert (response.status, response.content, response.etag) == (304, b"", '"v1"')
    assert stats["not_modified"] == 1


def test_feed_has_the_same_guard_and_limits(web: HTTPServer) -> None:
    web.expect_request("/huge.xml").respond_with_data("x" * 70_000)
    assert fetch_error(feed(web.url_for("/huge.xml"))).reason == "too_large"
    assert fetch_error(feed("http://169.254.169.254/feed")).reason == "egress_refused"
