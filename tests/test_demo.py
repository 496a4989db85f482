"""The offline demo: the project's own corpus, the sites built from it, the server, the command.

Everything goes over real HTTP to a real `DemoServer` on 127.0.0.1; requests name the
virtual host in the `Host` header, as our client does for `*.localhost` links. Nothing here
reads the shared folder: the demo needs only the repository.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import pytest
import yaml
from click.testing import CliRunner

from ingest.demo.corpus import CORPUS_DIR, Corpus, load_corpus
from ingest.demo.site import (
    COMMITTED_FEEDS_YAML,
    SEED_FILE,
    DemoServer,
    DemoSite,
    build_site,
    read_seed,
    serve_demo,
    summary_of,
)
from ingest.errors import ConfigError, ExtractionError
from ingest.fetch.charset import decode

BORDER_LANGUAGES = {"nl", "pl", "de", "en", "ru", "fr"}


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoServer, DemoSite]]:
    out_dir = tmp_path_factory.mktemp("demo")
    with DemoServer(out_dir / "site") as server:
        yield server, build_site(out_dir, server.port)


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


def page_text(server: DemoServer, url: str) -> str:
    status, headers, content = get(server, url)
    assert status == 200, url
    charset = headers.get_content_charset()
    return decode(content, charset)


# -- the corpus -----------------------------------------------------------------------------


def test_the_corpus_is_the_border_crisis_in_six_languages_over_ten_days(corpus: Corpus) -> None:
    assert 90 <= len(corpus.articles) <= 150
    days = {a.published.astimezone(UTC).date() for a in corpus.articles}
    assert min(days) <= datetime(2021, 11, 8).date() and max(days) >= datetime(2021, 11, 18).date()
    crisis = re.compile(
        r"Kuźnic|Кузниц|Loekasjenko|Lukashenko|Lukaschenko|Loukachenko|Лукашенко|Łukaszen",
    )
    on_crisis = Counter(
        a.outlet.language
        for a in corpus.articles
        if any(crisis.search(p) for v in a.versions for p in (v.title, *v.paragraphs))
    )
    assert set(on_crisis) >= BORDER_LANGUAGES
    assert all(on_crisis[lang] >= 4 for lang in BORDER_LANGUAGES), on_crisis
    unrelated = [
        a
        for a in corpus.articles
        if a.kind == "article"
        and not crisis.search(" ".join((a.versions[0].title, *a.versions[0].paragraphs)))
    ]
    assert len(unrelated) >= 30  # ordinary news, so searches have something to tell apart


def test_one_wire_is_reprinted_by_four_outlets_with_their_own_edits(corpus: Corpus) -> None:
    reprints = [a for a in corpus.articles if a.wire]
    assert len({a.wire for a in reprints}) == 1
    assert len({a.outlet.id for a in reprints}) >= 4
    assert len({a.versions[0].title for a in reprints}) == len(reprints)  # own headlines
    bodies = {a.versions[0].paragraphs for a in reprints}
    assert len(bodies) == len(reprints)  # own intros and trims: no two alike


def test_the_special_pages(corpus: Corpus) -> None:
    kinds = Counter(a.kind for a in corpus.articles)
    assert kinds["paywall"] == kinds["video"] == kinds["gone"] == 1
    assert [a.id for a in corpus.articles if a.edited] == ["irak-haalt-migranten-terug"]
    assert sum(1 for a in corpus.articles if a.first_pass == 2) >= 1
    assert {a.charset for a in corpus.articles} == {"utf-8", "iso-8859-2"}
    assert sum(1 for o in corpus.outlets if o.feed_malformed) == 1


def test_a_broken_corpus_is_a_clear_error_naming_the_article(tmp_path: Path) -> None:
    shutil.copytree(CORPUS_DIR, tmp_path / "corpus")
    path = tmp_path / "corpus" / "fr.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("outlet: courrier", "outlet: nowhere", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"fr.yaml: article #1 .*unknown outlet 'nowhere'"):
        load_corpus(tmp_path / "corpus")
    path.write_text(text.replace("  - id: ", "  - kind: podcast\n    id: ", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match="kind must be one of"):
        load_corpus(tmp_path / "corpus")
    path.write_text("articles: [", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"fr\.yaml: not valid YAML"):
        load_corpus(tmp_path / "corpus")


# -- the feeds ------------------------------------------------------------------------------


def test_every_outlet_has_a_feed_listing_its_articles(server: DemoServer, site: DemoSite) -> None:
    feeds = yaml.safe_load(site.feeds_yaml.read_text(encoding="utf-8"))["feeds"]
    assert len(feeds) == len(site.hosts) >= 10
    versions = Counter()
    for feed in feeds:
        status, _headers, content = get(server, feed["url"])
        assert status == 200, feed["name"]
        parsed = feedparser.parse(content)
        versions[parsed.version] += 1
        assert bool(parsed.bozo) == (feed["name"] in site.malformed_feeds), feed["name"]
        listed = [a for a in site.articles if feed["name"] in a.feeds]
        assert {e.link for e in parsed.entries} == {a.url for a in listed}, feed["name"]
        assert parsed.feed.get("language") == feed["language"]
        for entry in parsed.entries:
            assert entry.title and entry.summary and entry.published_parsed, feed["name"]
    assert versions["rss20"] >= 4 and versions["atom10"] >= 4


def test_the_malformed_feed_is_not_xml_but_its_entries_can_be_read(
    server: DemoServer, site: DemoSite
) -> None:
    import xml.etree.ElementTree as ET

    (name,) = site.malformed_feeds
    content = get(server, site.feeds[name])[2]
    with pytest.raises(ET.ParseError):
        ET.fromstring(content)
    assert len(feedparser.parse(content).entries) == sum(
        1 for a in site.articles if name in a.feeds
    )


# -- the pages ------------------------------------------------------------------------------


def test_pages_carry_what_news_pages_carry(server: DemoServer, site: DemoSite) -> None:
    article = next(a for a in site.articles if a.expect == "ok" and a.language == "de")
    page = page_text(server, article.url)
    for marker in ('class="cookie-banner"', 'class="main-nav"', 'class="byline"',
                   'loading="lazy"', 'class="related"', 'class="comments"', 'class="most-read"',
                   'property="article:published_time" content="2021-11-'):  # fmt: skip
        assert marker in page, marker
    (ld,) = re.findall(r'<script type="application/ld\+json">(.*?)</script>', page)
    data = json.loads(ld)
    assert data["@type"] == "NewsArticle" and data["headline"] == article.title
    assert datetime.fromisoformat(data["datePublished"]) == article.published


def test_every_page_extracts_to_its_text_without_boilerplate(
    server: DemoServer, site: DemoSite, corpus: Corpus
) -> None:
    from ingest.extract.page import extract_page

    for article in site.articles:
        if article.expect != "ok":
            continue
        extraction = extract_page(page_text(server, article.url), article.url)
        source = corpus.by_id(article.id).version(1)
        for paragraph in source.paragraphs:
            assert paragraph in extraction.body, (article.id, paragraph[:40])
        ui = corpus.ui[article.language]
        for boilerplate in (ui["cookie"], ui["read_also"], *(c[1] for c in ui["commenters"])):
            assert boilerplate not in extraction.body, (article.id, boilerplate)
        assert extraction.title == article.title


def test_feed_only_pages_give_no_text_and_the_gone_one_is_404(
    server: DemoServer, site: DemoSite
) -> None:
    from ingest.extract.page import extract_page

    assert site.expected_failures == {"no_text": 2, "http_404": 1}
    for article in site.articles:
        if article.expect == "no_text":
            with pytest.raises(ExtractionError, match="no_text"):
                extract_page(page_text(server, article.url), article.url)
        elif article.expect == "http_404":
            assert get(server, article.url)[0] == 404


def test_the_legacy_page_declares_its_charset_in_the_page(
    server: DemoServer, site: DemoSite, corpus: Corpus
) -> None:
    (legacy,) = [a for a in corpus.articles if a.charset != "utf-8"]
    url = next(a.url for a in site.articles if a.id == legacy.id)
    status, headers, content = get(server, url)
    assert status == 200 and headers["Content-Type"] == "text/html"  # no charset named
    assert f'<meta charset="{legacy.charset}">'.encode() in content[:300]
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    assert legacy.versions[0].paragraphs[0] in content.decode(legacy.charset)


# -- the second pass ------------------------------------------------------------------------


def test_the_second_pass_changes_only_what_changed(tmp_path: Path, corpus: Corpus) -> None:
    with DemoServer(tmp_path / "site") as server:
        first = build_site(tmp_path, server.port)
        before = {url: get(server, url)[1]["ETag"] for url in first.feeds.values()}
        pages = {
            a.url: get(server, a.url)[1]["ETag"] for a in first.articles if a.expect != "http_404"
        }
        second = build_site(tmp_path, server.port, pass_number=2)
        changed_feeds = {u for u in before if get(server, u)[1]["ETag"] != before[u]}
        changed_pages = {u for u in pages if get(server, u)[1]["ETag"] != pages[u]}
    new = {a.url for a in second.articles} - {a.url for a in first.articles}
    edited = {a.url for a in second.articles if a.edited}
    assert len(new) == sum(1 for a in corpus.articles if a.first_pass == 2)
    assert changed_pages == edited and len(edited) == 1
    outlets = {a.feeds[0] for a in second.articles if a.url in new | edited}
    assert changed_feeds == {second.feeds[name] for name in outlets}
    (title_now,) = [a.title for a in second.articles if a.edited]
    assert title_now != next(a.title for a in first.articles if a.edited)


def test_rebuilding_keeps_etag_and_last_modified(
    tmp_path: Path, server: DemoServer, site: DemoSite
) -> None:
    article = next(a for a in site.articles if a.expect == "ok")
    _, before, _ = get(server, article.url)
    build_site(site.site_dir.parent, site.port)  # rebuild under the running server
    _, after, _ = get(server, article.url)
    assert (after["ETag"], after["Last-Modified"]) == (before["ETag"], before["Last-Modified"])


def test_the_seed_is_added_only_when_present(tmp_path: Path) -> None:
    seed_dir = tmp_path / "seed"
    seed_dir.mkdir()
    (seed_dir / SEED_FILE).write_text(
        " date 2021-11 Een eerste alinea over de grens bij Kuźnica.\n\nEen tweede alinea.\n",
        encoding="utf-8",
    )
    without = build_site(tmp_path / "a", 8765)
    with_seed = build_site(tmp_path / "b", 8765, seed_dir=seed_dir)
    added = {a.url for a in with_seed.articles} - {a.url for a in without.articles}
    assert len(added) == 1
    assert (
        build_site(tmp_path / "c", 8765, seed_dir=tmp_path / "nowhere").articles == without.articles
    )


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
    url = next(u for u in site.feeds.values() if u.endswith(".rss"))
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


def test_serve_demo_builds_and_serves(tmp_path: Path) -> None:
    server, site = serve_demo(tmp_path, port=0)
    try:
        assert site.port == server.port and site.site_dir == server.site_dir
        assert get(server, next(iter(site.feeds.values())))[0] == 200
    finally:
        server.stop()
    server.stop()  # twice is harmless


def test_a_busy_port_is_a_clear_error(server: DemoServer, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=str(server.port)):
        DemoServer(tmp_path, port=server.port)


def test_committed_feeds_yaml_matches_the_corpus(tmp_path: Path) -> None:
    built = build_site(tmp_path, 8765).feeds_yaml.read_text(encoding="utf-8")
    assert COMMITTED_FEEDS_YAML.read_text(encoding="utf-8") == built, (
        "examples/demo/feeds.yaml is stale: run `python -m ingest.demo.site`"
    )


def test_a_folder_not_built_by_the_demo_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "precious.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not replacing"):
        build_site(tmp_path, 8765)
    assert (tmp_path / "site" / "precious.txt").exists()


def test_seed_date_marker_is_checked(tmp_path: Path) -> None:
    seed = tmp_path / "seed.txt"
    seed.write_text(" date 2021-11 Eerste alinea.\n\nTweede alinea.\n", encoding="utf-8")
    november = datetime.fromisoformat("2021-11-16T14:32:00+01:00")
    assert read_seed(seed, november) == ["Eerste alinea.", "Tweede alinea."]
    with pytest.raises(ConfigError, match="2021-11"):
        read_seed(seed, november.replace(month=12))


def test_summary_is_cut_at_a_word() -> None:
    summary = summary_of("woord " * 100, 50)
    assert summary.endswith("woord…") and len(summary) <= 51


# -- the command ----------------------------------------------------------------------------


@pytest.mark.es
@pytest.mark.slow
def test_the_demo_command_shows_every_step(es_url: str, tmp_path: Path, corpus: Corpus) -> None:
    """`mediamon demo` from the repository alone, twice: every step says what it showed."""
    from ingest.cli import cli
    from ingest.store import IndexNames, connect, delete_all

    prefix = f"mmtest-demo-{tmp_path.name[-8:].lower().replace('_', '')}"
    # One port for both runs, as `make demo` always uses 8765: the links (and so the article
    # ids) name the port, and a re-run must find the same articles.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [
        "--es-url",
        es_url,
        "--prefix",
        prefix,
        "demo",
        "--port",
        str(port),
        "--shared",
        str(tmp_path / "no-shared"),
    ]
    env = {
        "MEDIAMON_HOME": str(tmp_path / "home"),
        "MEDIAMON_EXTRACT_WORKERS": "1",
        "COLUMNS": "200",
    }
    try:
        first = CliRunner().invoke(cli, args, env=env)
        assert first.exit_code == 0, first.output
        again = CliRunner().invoke(cli, args, env=env)
        assert again.exit_code == 0, again.output
    finally:
        from ingest.config import Settings

        client = connect(Settings.from_env({}, es_url=es_url))
        delete_all(client, IndexNames(prefix))
    said = re.findall(r"what this showed: (.*?)(?=\n\n|\n─|\Z)", first.output, re.S)
    said = [" ".join(s.split()) for s in said]
    text = "\n".join(said)
    changed = {a.outlet.id for a in corpus.articles if a.first_pass == 2 or a.edited}
    late = sum(1 for a in corpus.articles if a.first_pass == 2)
    assert f"feeds downloaded {len(corpus.outlets)}, unchanged (304) 0" in said[0]
    assert "page:no_text 2" in said[0] and "page:http_404 1" in said[0]
    assert "feed:malformed 1" in said[0]
    unchanged = len(corpus.outlets) - len(changed)
    assert (
        f"feeds downloaded {len(changed)}, unchanged (304) {unchanged}; pages fetched {late};"
        in said[1]
    )
    assert f"new articles {late}" in said[1]
    assert "nothing was indexed twice" in said[2]
    assert re.search(r"\d+ articles re-checked: 1 changed", said[3])
    assert "vluchtelingen" in said[4]
    assert "in 6 languages" in said[5] and "busiest day is 2021-11-16" in said[5]
    assert re.search(r"story of (\d+) articles from \1 outlets", said[6])
    assert "2 versions of one article" in said[7]
    assert "created by pass 1:" in said[8]
    # One alert per story: the agency wire reprinted by four outlets is one alert.
    stories = re.search(r"holds (\d+) alerts, one per story, for (\d+) matching articles", said[8])
    assert stories and int(stories[1]) < int(stories[2]), said[8]
    assert re.search(r"the most carried, .*, [2-9] outlets;", said[8]), said[8]
    assert re.search(r"as of 16 Nov: .* no spike; as of 17 Nov: .* a spike\.", said[9]), text
    # The second run finds everything known: no new articles, nothing re-checked, no alerts.
    again_said = " ".join(re.findall(r"what this showed: (.*?)(?=\n\n)", again.output, re.S))
    again_said = " ".join(again_said.split())
    assert "new articles 0" in again_said and "0 articles re-checked" in again_said
    assert "created by pass 1: 0, pass 2: 0" in again_said
