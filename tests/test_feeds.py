"""Feeds file validation and feed parsing (no network: parse_feed takes bytes)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest import identity
from ingest.errors import ConfigError
from ingest.feeds import load_feeds, parse_feed
from ingest.models import Feed, LanguageHint

FEED = Feed(name="test", url="http://127.0.0.1/feed.xml", language="nl", source="Test")
NOW = datetime(2021, 11, 20, tzinfo=UTC)

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>NOS Nieuws</title><language>nl</language>
<item><title>Crisis aan de grens</title><link>/artikel/1</link><guid>a1</guid>
<description>&lt;p&gt;Duizenden &lt;b&gt;migranten&lt;/b&gt;&lt;/p&gt;</description>
<pubDate>Tue, 16 Nov 2021 10:00:00 +0100</pubDate></item>
<item><title>Tweede</title><link>https://example.org/2?utm_source=rss</link><guid>a1</guid>
<pubDate>Fri, 31 Dec 9999 10:00:00 +0000</pubDate></item>
<item><title>Zonder link</title></item>
<item><title>Script</title><link>javascript:alert(1)</link></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom feed</title>
<entry><title>Eins</title><link href="https://example.de/eins"/><id>urn:1</id>
<updated>2021-11-16T09:00:00Z</updated><summary>Kurz</summary></entry></feed>"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(text)
    return path


def test_load_feeds_reads_valid_file(tmp_path: Path) -> None:
    path = write(
        tmp_path, "feeds:\n  - {name: a, url: 'https://x.org/rss', language: nl, tags: [x]}\n"
    )
    assert load_feeds(path) == [Feed("a", "https://x.org/rss", "nl", None, ("x",))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("feeds: [\n", "not valid YAML"),
        ("- just a list\n", "a list under 'feeds'"),
        ("feeds:\n  - {name: a}\n", "feed 'a': missing 'url'"),
        ("feeds:\n  - {name: a, url: 'ftp://x.org/f'}\n", "is not an http(s) URL"),
        (
            "feeds:\n  - {name: a, url: 'https://x'}\n  - {name: a, url: 'https://y'}\n",
            "duplicate name",
        ),
        ("feeds:\n  - {name: a, url: 'https://x', langauge: nl}\n", "unknown key 'langauge'"),
        ("feeds:\n  - {name: a, url: 'https://x', language: dutch}\n", "two-letter"),
        ("feeds: []\n", "is empty"),
    ],
)
def test_load_feeds_names_file_and_feed_in_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_feeds(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_load_feeds_reports_every_problem_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - {name: a}\n  - {name: b, url: 'file:///etc/passwd'}\n")
    with pytest.raises(ConfigError) as info:
        load_feeds(path)
    message = str(info.value)
    assert "feed 'a'" in message and "feed 'b'" in message


def test_missing_feeds_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_feeds(tmp_path / "nope.yaml")


def test_the_declared_language_says_who_declared_it() -> None:
    configured = parse_feed(RSS, replace(FEED, language="de"), FEED.url, NOW).entries[0]
    own = parse_feed(RSS, replace(FEED, language=None), FEED.url, NOW).entries[0]
    undeclared = RSS.replace(b"<language>nl</language>", b"")
    neither = parse_feed(undeclared, replace(FEED, language=None), FEED.url, NOW).entries[0]
    assert configured.declared_language == LanguageHint("de", "configured")  # the user's word
    assert own.declared_language == LanguageHint("nl", "feed")
    assert neither.declared_language is None


def test_rss_entries_links_dates_and_skips() -> None:
    parsed = parse_feed(RSS, FEED, "http://127.0.0.1/feed.xml", NOW)
    assert not parsed.malformed
    assert [e.url for e in parsed.entries if e.url] == [
        "http://127.0.0.1/artikel/1",  # relative link resolved against the feed URL
        "https://example.org/2?utm_source=rss",
    ]
    first, second, *without_link = parsed.entries
    assert first.published_at == datetime(2021, 11, 16, 9, tzinfo=UTC)
    assert first.summary == "Duizenden migranten"  # HTML stripped
    assert first.language == "nl" and first.source == "Test"
    assert second.published_at is None  # year 9999 is not a date
    # Items without a usable link are kept (feed-only articles), saying why they have none.
    assert [(e.title, e.url, e.link_problem) for e in without_link] == [
        ("Zonder link", "", "entry:no_link"),
        ("Script", "", "entry:bad_scheme"),
    ]
    assert parsed.skipped == {}


def test_items_without_a_link_have_a_stable_identity_of_their_own() -> None:
    items = (
        "<item><title>Met guid</title><guid isPermaLink='false'>urn:x:1</guid></item>"
        "<item><title>Zonder guid</title><pubDate>Tue, 16 Nov 2021 10:00:00 +0000</pubDate>"
        "</item><item><title>Zonder guid</title></item>"
        "<item><guid isPermaLink='false'>urn:x:2</guid></item>"  # nothing to show: skipped
    )
    feed = f"<rss version='2.0'><channel><title>T</title>{items}</channel></rss>".encode()
    url = "https://krant.example/rss"
    parsed = parse_feed(feed, FEED, url, NOW)
    assert parsed.skipped == {"entry:no_link": 1}
    with_guid, dated, undated = parsed.entries
    assert with_guid.identity == f"{url}\nurn:x:1"
    assert dated.identity == f"{url}\nZonder guid\n2021-11-16T10:00:00+00:00"
    assert undated.identity == f"{url}\nZonder guid\n"
    ids = {identity.entry_id(e.identity or "") for e in parsed.entries}
    assert len(ids) == 3  # one document each
    again = parse_feed(feed, FEED, url, NOW)  # the same item read again: the same document
    assert [e.identity for e in again.entries] == [e.identity for e in parsed.entries]
    elsewhere = parse_feed(feed, FEED, "https://other.example/rss", NOW)
    assert {identity.entry_id(e.identity or "") for e in elsewhere.entries}.isdisjoint(ids)


def test_atom_entries() -> None:
    feed = Feed(name="atom", url="https://example.de/atom")
    parsed = parse_feed(ATOM, feed, feed.url, NOW)
    assert [(e.url, e.title, e.summary) for e in parsed.entries] == [
        ("https://example.de/eins", "Eins", "Kurz")
    ]
    assert parsed.entries[0].source is None  # a feed's title is not a publisher name
    assert parsed.title == "Atom feed"


def test_item_source_names_the_publisher_of_aggregated_feeds() -> None:
    content = RSS.replace(
        b"<guid>a1</guid>", b'<guid>a1</guid><source url="https://nos.nl/rss">NOS</source>', 1
    )
    parsed = parse_feed(content, Feed("agg", "http://127.0.0.1/feed.xml"), FEED.url, NOW)
    assert parsed.entries[0].source == "NOS"
    configured = parse_feed(content, FEED, FEED.url, NOW)
    assert configured.entries[0].source == "Test"  # the feeds file wins


def test_truncated_feed_keeps_what_parses() -> None:
    parsed = parse_feed(RSS[: RSS.index(b"<item><title>Tweede")], FEED, FEED.url, NOW)
    assert parsed.malformed and parsed.reason == "feed:malformed"
    assert [e.title for e in parsed.entries] == ["Crisis aan de grens"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "feed:empty"),
        (b"   \n", "feed:empty"),
        (b"<!doctype html><html><body><p>Not a feed</p></body></html>", "feed:not_a_feed"),
        (b"\x00\xff\xfe garbage", "feed:not_a_feed"),
    ],
)
def test_documents_that_are_not_feeds(content: bytes, reason: str) -> None:
    parsed = parse_feed(content, FEED, FEED.url, NOW)
    assert parsed.malformed and parsed.reason == reason and parsed.entries == []
