"""The offline demo: the site built from the shared corpus, and the local server serving it.

Everything goes over real HTTP to a real `DemoServer` on 127.0.0.1; requests name the
virtual host in the `Host` header, as our client does for `*.localhost` links.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import pytest
import yaml

from ingest.demo import (
    COMMITTED_FEEDS_YAML,
    DEFAULT_RECIPE,
    DemoServer,
    DemoSite,
    build_site,
    read_seed,
    serve_demo,
    summary_of,
)
from ingest.errors import ConfigError


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory, shared_dir: Path
) -> Iterator[tuple[DemoServer, DemoSite]]:
    out_dir = tmp_path_factory.mktemp("demo")
    with DemoServer(out_dir / "site") as server:
        yield server, build_site(shared_dir, out_dir, server.port)


@pytest.fixture
def server(demo: tuple[DemoServer, DemoSite]) -> DemoServer:
    demo[0].log.clear()
    return demo[0]


@pytest.fixture
def site(demo: tuple[DemoServer, DemoSite]) -> DemoSite:
    return demo[1]


def get(
    server: DemoServer, url: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """Request `url` from the demo server, naming its host as a client would."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, target, headers={"Host": parts.netloc, **(headers or {})})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def read_corpus(shared_dir: Path) -> list[dict[str, str]]:
    lines = (shared_dir / "corpus" / "pages.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def feed_entries(server: DemoServer, url: str) -> list[feedparser.FeedParserDict]:
    status, _headers, content = get(server, url)
    assert status == 200
    return list(feedparser.parse(content).entries)


# -- the feeds ------------------------------------------------------------------------------


def test_every_feed_parses_and_lists_its_entries(server: DemoServer, site: DemoSite) -> None:
    feeds = yaml.safe_load(site.feeds_yaml.read_text(encoding="utf-8"))["feeds"]
    assert 8 <= len(feeds) <= 12
    for feed in feeds:
        status, headers, content = get(server, feed["url"])
        assert status == 200, feed["name"]
        assert headers["Content-Type"].split(";")[0] in (
            "application/rss+xml",
            "application/atom+xml",
        )
        parsed = feedparser.parse(content)
        assert not parsed.bozo, (feed["name"], parsed.get("bozo_exception"))
        listed = [a for a in site.articles if feed["name"] in a.feeds]
        assert len(parsed.entries) == len(listed), feed["name"]
        assert {e.link for e in parsed.entries} <= {a.url for a in site.articles}
        for entry in parsed.entries:
            assert entry.title and entry.summary and entry.published_parsed, feed["name"]


def test_feeds_come_in_both_formats_and_declare_their_language(
    server: DemoServer, site: DemoSite
) -> None:
    versions = {}
    for name, url in site.feeds.items():
        parsed = feedparser.parse(get(server, url)[2])
        versions[name] = parsed.version
        configured = next(
            f for f in yaml.safe_load(site.feeds_yaml.read_text())["feeds"] if f["name"] == name
        )
        assert parsed.feed.get("language") == configured.get("language"), name
    assert {"rss20", "atom10"} <= set(versions.values())


def test_multi_publisher_feeds_name_each_items_source(server: DemoServer, site: DemoSite) -> None:
    entries = feed_entries(server, site.feeds["asia-news"])
    assert {e.source.title for e in entries} == {
        "Asahi Shimbun",
        "Chunichi Shimbun",
        "Hankook Ilbo",
    }


def test_seed_article_is_dutch_dated_16_november_2021_and_in_two_feeds(
    server: DemoServer, site: DemoSite
) -> None:
    (seed,) = [a for a in site.articles if a.publisher == "Demo Nieuws" and a.expect == "ok"]
    assert seed.language == "nl"
    assert seed.published.isoformat().startswith("2021-11-16T")
    assert set(seed.feeds) == {"demonieuws-buitenland", "demonieuws-voorpagina"}
    entries = feed_entries(server, site.feeds["demonieuws-buitenland"])
    (entry,) = [e for e in entries if e.link == seed.url]
    assert tuple(entry.published_parsed[:3]) == (2021, 11, 16)
    assert entry.summary.startswith("Rusland heeft het Westen de schuld gegeven")
    # The same link, not merely the same page, so the pipeline makes one document of it.
    assert seed.url in {e.link for e in feed_entries(server, site.feeds["demonieuws-voorpagina"])}


def test_one_link_carries_tracking_parameters(site: DemoSite) -> None:
    tracked = [a for a in site.articles if "utm_source=rss&utm_medium=feed" in a.url]
    assert len(tracked) == 1 and tracked[0].expect == "ok"


# -- the pages ------------------------------------------------------------------------------


def test_every_working_link_serves_an_html_page(server: DemoServer, site: DemoSite) -> None:
    working = [a for a in site.articles if a.expect == "ok"]
    for article in working:
        status, headers, content = get(server, article.url)
        assert status == 200, article.url
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert b"<html" in content[:2000].lower(), article.url
        content.decode("utf-8")
    assert server.log.count(status=200) == len(working)
    assert server.page_requests() == len(working)


def test_the_demo_has_at_least_20_articles_and_every_corpus_page(
    site: DemoSite, shared_dir: Path
) -> None:
    assert site.expected_articles >= 20
    corpus = read_corpus(shared_dir)
    served_titles = {a.title for a in site.articles}
    assert {page["title"] for page in corpus} <= served_titles
    languages = {a.language for a in site.articles if a.expect == "ok"}
    assert languages >= {page["lang"] for page in corpus} | {"nl"}


def test_corpus_pages_are_served_as_recorded(
    server: DemoServer, site: DemoSite, shared_dir: Path
) -> None:
    page = read_corpus(shared_dir)[0]
    (article,) = [a for a in site.articles if a.title == page["title"]]
    recorded = gzip.decompress((shared_dir / "corpus" / page["file"]).read_bytes())
    assert get(server, article.url)[2] == recorded
    # Only the host changes: the original path (and query) are kept.
    original = urlsplit(page["url"])
    served = urlsplit(article.url)
    assert (served.hostname, served.path) == (f"{original.hostname}.localhost", original.path)


def test_seed_page_is_a_dutch_article_page(server: DemoServer, site: DemoSite) -> None:
    (seed,) = [a for a in site.articles if a.publisher == "Demo Nieuws" and a.expect == "ok"]
    page = get(server, seed.url)[2].decode("utf-8")
    assert '<html lang="nl">' in page
    assert f"<h1>{seed.title}</h1>" in page
    assert 'property="article:published_time" content="2021-11-16T' in page
    assert "Loekasjenko" in page and "$" not in page  # every placeholder filled


def test_the_deliberate_failures(server: DemoServer, site: DemoSite) -> None:
    assert site.expected_failures == {"http_404": 1, "no_text": 1, "not_html": 1}
    by_expectation = {a.expect: a for a in site.articles}
    assert get(server, by_expectation["http_404"].url)[0] == 404
    status, headers, content = get(server, by_expectation["no_text"].url)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"<article" not in content and b"<h1" not in content
    status, headers, content = get(server, by_expectation["not_html"].url)
    assert status == 200 and headers["Content-Type"] == "application/pdf"
    assert content.startswith(b"%PDF-")


# -- the server -----------------------------------------------------------------------------


def test_conditional_get_with_etag_or_date_is_304(server: DemoServer, site: DemoSite) -> None:
    url = next(iter(site.feeds.values()))
    status, headers, _ = get(server, url)
    assert status == 200 and headers["ETag"] and headers["Last-Modified"]
    status, again, content = get(server, url, {"If-None-Match": headers["ETag"]})
    assert (status, content, again["ETag"]) == (304, b"", headers["ETag"])
    status, _, _ = get(server, url, {"If-Modified-Since": headers["Last-Modified"]})
    assert status == 304
    # A changed ETag wins over a matching date (If-None-Match decides when present).
    changed = {"If-None-Match": '"other"', "If-Modified-Since": headers["Last-Modified"]}
    assert get(server, url, changed)[0] == 200
    assert server.log.count(path=urlsplit(url).path, status=304) == 2


def test_rebuilding_keeps_etag_and_last_modified(
    shared_dir: Path, tmp_path: Path, server: DemoServer, site: DemoSite
) -> None:
    article = next(a for a in site.articles if a.expect == "ok")
    _, before, _ = get(server, article.url)
    build_site(shared_dir, site.site_dir.parent, site.port)  # rebuild under the running server
    _, after, _ = get(server, article.url)
    assert (after["ETag"], after["Last-Modified"]) == (before["ETag"], before["Last-Modified"])


def test_head_robots_and_unknown_paths(server: DemoServer, site: DemoSite) -> None:
    for host in site.hosts:
        status, headers, content = get(server, f"http://{host}:{site.port}/robots.txt")
        assert status == 200 and b"Allow: /" in content, host
    feed = next(iter(site.feeds.values()))
    status, headers, content = get(server, feed, method="HEAD")
    assert status == 200 and content == b"" and int(headers["Content-Length"]) > 0
    host = urlsplit(feed).netloc
    assert get(server, f"http://{host}/no-such-page")[0] == 404
    assert get(server, f"http://unknown.example.localhost:{site.port}/")[0] == 404
    assert get(server, f"http://unknown.example.localhost:{site.port}/robots.txt")[0] == 404
    assert get(server, f"http://{host}/../{host}/robots.txt")[0] == 404
    assert get(server, f"http://{host}/%2e%2e/{site.feeds_yaml.name}")[0] == 404


def test_request_log_counts_per_path(server: DemoServer, site: DemoSite) -> None:
    url = site.feeds["abc-espana"]
    for _ in range(3):
        get(server, url)
    host, path = urlsplit(url).hostname, urlsplit(url).path
    assert server.log.hits()[f"{host}{path}"] == 3
    assert server.log.count(host=host, content_type="application/rss+xml") == 3
    assert server.page_requests() == 0  # feeds are not pages


def test_server_binds_to_loopback_only(server: DemoServer, tmp_path: Path) -> None:
    assert server.host == "127.0.0.1"
    assert server.url == f"http://127.0.0.1:{server.port}"
    for address in ("0.0.0.0", "192.168.1.10", "localhost"):
        with pytest.raises(ConfigError, match="127"):
            DemoServer(tmp_path, host=address)


def test_serve_demo_builds_and_serves(shared_dir: Path, tmp_path: Path) -> None:
    server, site = serve_demo(shared_dir, tmp_path, port=0)
    try:
        assert site.port == server.port and site.site_dir == server.site_dir
        assert get(server, site.feeds["nordic-news"])[0] == 200
    finally:
        server.stop()
    server.stop()  # twice is harmless


def test_a_busy_port_is_a_clear_error(server: DemoServer, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=str(server.port)):
        DemoServer(tmp_path, port=server.port)


# -- the recipe -----------------------------------------------------------------------------


def test_committed_feeds_yaml_matches_the_recipe(shared_dir: Path, tmp_path: Path) -> None:
    built = build_site(shared_dir, tmp_path, 8765).feeds_yaml.read_text(encoding="utf-8")
    assert COMMITTED_FEEDS_YAML.read_text(encoding="utf-8") == built, (
        "examples/demo/feeds.yaml is stale: run `python -m ingest.demo`"
    )


def test_missing_shared_corpus_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MEDIAMON_SHARED") as error:
        build_site(tmp_path / "nowhere", tmp_path / "out", 8765)
    assert str(tmp_path / "nowhere") in str(error.value)


def test_a_folder_not_built_by_the_demo_is_never_replaced(shared_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "precious.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not replacing"):
        build_site(shared_dir, tmp_path, 8765)
    assert (tmp_path / "site" / "precious.txt").exists()


def test_recipe_lists_only_pages_that_exist(shared_dir: Path, tmp_path: Path) -> None:
    recipe = yaml.safe_load(DEFAULT_RECIPE.read_text(encoding="utf-8"))
    recipe["feeds"][0]["items"].append("pages/xx-Nowhere-2020-01-01.html.gz")
    broken = tmp_path / "demo.yaml"
    broken.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    for name in ("seed-page.html", "no-article.html", "rapport.pdf"):
        os.symlink(DEFAULT_RECIPE.parent / name, tmp_path / name)
    with pytest.raises(ConfigError, match="xx-Nowhere"):
        build_site(shared_dir, tmp_path / "out", 8765, recipe=broken)


def test_seed_date_marker_is_checked(tmp_path: Path) -> None:
    from datetime import datetime

    seed = tmp_path / "seed.txt"
    seed.write_text(" date 2021-11 Eerste alinea.\n\nTweede alinea.\n", encoding="utf-8")
    november = datetime.fromisoformat("2021-11-16T14:32:00+01:00")
    assert read_seed(seed, november) == ["Eerste alinea.", "Tweede alinea."]
    with pytest.raises(ConfigError, match="2021-11"):
        read_seed(seed, november.replace(month=12))


def test_summary_is_cut_at_a_word() -> None:
    text = "woord " * 100
    summary = summary_of(text, 50)
    assert summary.endswith("woord…") and len(summary) <= 51
    assert summary_of("地震" * 200, 50) == "地震" * 25 + "…"


def test_seed_page_extracts_as_its_text_without_boilerplate(
    server: DemoServer, site: DemoSite, shared_dir: Path
) -> None:
    import trafilatura

    (seed,) = [a for a in site.articles if a.publisher == "Demo Nieuws" and a.expect == "ok"]
    paragraphs = read_seed(shared_dir / "seed" / "border-crisis-nl-2021-11.txt", seed.published)
    text = trafilatura.extract(get(server, seed.url)[2].decode("utf-8")) or ""
    assert paragraphs[0] in text and paragraphs[-1] in text
    assert "Meer over dit onderwerp" not in text and "Tip de redactie" not in text
