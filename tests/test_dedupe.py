"""Article identity: the same article behind different links gets one id."""

from __future__ import annotations

import hashlib

import pytest

from ingest.identity import (
    canonical_url,
    content_hash,
    document_id,
    domain_of,
    lookup_ids,
    page_canonical,
)


def test_tracking_parameters_fragment_and_host_case_do_not_change_identity() -> None:
    plain = canonical_url("https://www.example.com/news/1?id=3")
    for variant in (
        "https://WWW.Example.com/news/1?id=3#comments",
        "https://www.example.com/news/1?utm_source=rss&utm_medium=feed&id=3",
        "https://www.example.com/news/1?id=3&fbclid=abc",
        "  https://www.example.com/news/1?id=3 ",
    ):
        assert canonical_url(variant) == plain
    assert document_id(canonical_url(variant)) == document_id(plain)


def test_meaningful_parameters_keep_articles_apart() -> None:
    first = canonical_url("https://example.com/news.php?article=77")
    second = canonical_url("https://example.com/news.php?article=78")
    assert first != second and document_id(first) != document_id(second)


def test_domain_and_content_hash() -> None:
    assert (
        domain_of("http://www.derstandard.at.localhost:8765/story/1") == "derstandard.at.localhost"
    )
    assert content_hash("Hello,  World!") == content_hash("hello world")
    assert content_hash("hello world") != content_hash("hello there")
    assert content_hash("  ") is None


# -- folding variants, legacy ids, the page's canonical link ---------------------------------


def test_scheme_www_trailing_slash_and_default_port_are_one_article() -> None:
    plain = document_id("https://example.com/news/1")
    for variant in (
        "http://example.com/news/1",
        "https://www.example.com/news/1",
        "https://example.com/news/1/",
        "http://www.example.com:80/news/1/",
        "https://example.com:443/news/1?utm_source=rss",
    ):
        assert document_id(variant) == plain, variant
    # What the reader opens stays as linked.
    assert canonical_url("http://www.example.com/news/1/") == "http://www.example.com/news/1/"


def test_different_pages_stay_apart() -> None:
    ids = {
        document_id(url)
        for url in (
            "https://example.com/news/1",
            "https://example.com/news/12",
            "https://example.com/news/1/2",
            "https://example.com/news/1?page=2",
            "https://example.com:8443/news/1",
            "https://blog.example.com/news/1",
        )
    }
    assert len(ids) == 6


def test_lookup_ids_cover_the_ids_earlier_versions_gave_every_variant() -> None:
    def old_id(url: str) -> str:  # before issue #15: the hash of the canonical URL as linked
        return hashlib.sha256(canonical_url(url).encode()).hexdigest()[:40]

    ids = lookup_ids("https://example.com/news/1")
    assert ids[0] == document_id("https://example.com/news/1")
    for variant in (
        "http://example.com/news/1",
        "https://www.example.com/news/1/",
        "http://www.example.com/news/1/",
        "https://example.com/news/1?utm_medium=feed",
    ):
        assert old_id(variant) in ids and lookup_ids(variant) == ids, variant
    assert old_id("https://example.com/news/2") not in ids


EXAMPLE = "https://example.com"


@pytest.mark.parametrize(
    ("link", "page", "expected"),
    [
        ("/a/b", "https://example.com/a/b/amp", "https://example.com/a/b"),
        ("https://www.example.com/a/b", "https://m.example.com/a/b", "https://www.example.com/a/b"),
        ("/a/new-title", "https://example.com/a/old-title", "https://example.com/a/new-title"),
        # Itself, once the tracker is dropped; a parameter more is still the same path
        (
            "/news.php?a=7",
            "https://example.com/news.php?a=7&utm_source=x",
            EXAMPLE + "/news.php?a=7",
        ),
        ("/news.php?a=7&x=1", "https://example.com/news.php?a=7", EXAMPLE + "/news.php?a=7&x=1"),
        ("/", "https://example.com/", "https://example.com/"),
        # Pages that hold many articles: home page, section, the path without the article's id
        ("/", "https://example.com/politiek/123", None),
        ("https://example.com/politiek/", "https://example.com/politiek/123", None),
        ("/news.php", "https://example.com/news.php?article=77", None),
        # Another site's page, or no page at all
        ("https://other.example.org/a/b", "https://example.com/a/b", None),
        ("https://example.com.evil.test/a", "https://example.com/a", None),
        ("javascript:void(0)", "https://example.com/a", None),
        ("http://[::1", "https://example.com/a", None),
        ("", "https://example.com/a", None),
    ],
)
def test_page_canonical_is_trusted_only_for_the_same_article(
    link: str, page: str, expected: str | None
) -> None:
    assert page_canonical(link, page) == expected
