"""Article identity: the same article behind different links gets one id."""

from __future__ import annotations

from ingest.dedupe import canonical_url, content_hash, document_id, domain_of


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
