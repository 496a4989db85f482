"""The example files users start from must stay valid."""

from __future__ import annotations

from pathlib import Path

from ingest.feeds import load_feeds

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_real_world_feeds_file_is_valid() -> None:
    feeds = load_feeds(EXAMPLES / "feeds.yaml")
    assert len(feeds) >= 10
    assert {"nl", "pl", "en", "de", "fr"} <= {f.language for f in feeds}
    assert all(f.url.startswith("https://") for f in feeds)


def test_demo_feeds_file_is_valid() -> None:
    feeds = load_feeds(EXAMPLES / "demo" / "feeds.yaml")
    assert all(f.url.startswith("http://") and ".localhost:8765/" in f.url for f in feeds)


def test_demo_feeds_are_the_corpus_outlets() -> None:
    from ingest.demo.corpus import load_corpus

    corpus = load_corpus()
    feeds = load_feeds(EXAMPLES / "demo" / "feeds.yaml")
    assert [f.name for f in feeds] == [o.id for o in corpus.outlets]
    assert [f.language for f in feeds] == [o.language for o in corpus.outlets]


def test_the_border_rule_names_the_crisis_in_every_language_of_the_demo() -> None:
    """Each crisis article of the demo names Kuźnica or Lukashenko in one of the forms the
    rule lists (Polish and Russian inflect names and have no stemmer here)."""
    import re

    from ingest.alerts import load_rules
    from ingest.demo.corpus import load_corpus

    rule = next(r for r in load_rules(EXAMPLES / "alerts.yaml") if r.id == "border-crisis")
    terms = [t.strip().strip('"') for t in rule.query.split(" OR ")]
    crisis = re.compile(r"Kuźnic|Кузниц|Loekasjenk|Lukash|Lukasch|Loukach|Лукашенк|Łukaszen")
    missed, languages = [], set()
    for article in load_corpus().articles:
        text = " ".join((article.versions[0].title, *article.versions[0].paragraphs))
        if not crisis.search(text + " " + (article.summary or "")):
            continue
        languages.add(article.outlet.language)
        words = set(re.findall(r"\w+", text + " " + (article.summary or "")))
        if not any(t in words or (" " in t and t in text) for t in terms):
            missed.append(article.id)
    assert missed == []
    assert languages == {"nl", "pl", "de", "en", "ru", "fr"}
