"""Near-duplicate stories: the fingerprint itself, then the pipeline against a real
Elasticsearch and a real local HTTP server, with a corpus whose clusters are known in advance.

The served pages are built from texts of the project's demo corpus (`tests/corpus_pages.py`):

- run 1, feed "wire": an English report (A: three Northern Ledger border stories in one) and
  a German one (B);
- run 2, feed "local": A with a new headline, a local intro and a dropped paragraph (a near
  copy), A reposted word for word under another headline (an exact copy), two different
  English reports on the border crisis (same topic, not copies); the feed lists A again too;
- run 3, feed "regional": the Glasgow climate report (C) and a trimmed copy of it with agency
  boilerplate, new in the same batch;
- feed "background": the Dutch agency wire cut in two, and an English press review quoting
  one of its paragraphs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from html import escape

import corpus_pages
import pytest
from articles import new_article
from click.testing import CliRunner
from elasticsearch import Elasticsearch
from pytest_httpserver import HTTPServer

from ingest import store, stories
from ingest.cli import cli
from ingest.config import Settings
from ingest.identity import content_hash
from ingest.models import Article, Feed
from ingest.pipeline import run_feeds
from ingest.stories import CandidatePool, StoryMember

LOCAL_INTRO = (
    "Readers in Winnipeg have been following the talks closely, and local community groups "
    "organised a vigil downtown on Wednesday evening while the news broke overseas."
)
BOILERPLATE = "© 2024 Canadian Press. All rights reserved. This material may not be published."
P = corpus_pages.paragraphs
REPORT_A = [
    *P("migrants-mass-at-polish-border"),
    *P("lukashenko-gas-threat"),
    *P("water-cannon-on-the-border"),
]
WIRE = list(corpus_pages.corpus().by_id("waterkanon-bij-kuznica").versions[0].paragraphs[1:])


def page(title: str, paragraphs: list[str], lang: str, chrome: str = "Nieuws") -> str:
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<title>{escape(title)}</title>
<meta property="article:published_time" content="2024-08-08T09:30:00+00:00"></head>
<body><nav><a href="/">{chrome}</a> <a href="/world">World</a></nav>
<article><h1>{escape(title)}</h1>{body}</article><footer>© {chrome}</footer></body></html>"""


def rss(server: HTTPServer, paths: list[str]) -> str:
    items = "".join(
        f"<item><title>{p}</title><link>{server.url_for(p)}</link><guid>{p}</guid></item>"
        for p in paths
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>'
    )


@pytest.fixture
def site(httpserver: HTTPServer) -> dict[str, Feed]:
    a_par, c_par = REPORT_A, P(corpus_pages.ENGLISH)
    served = {
        "/wire/a": page(corpus_pages.title("migrants-mass-at-polish-border"), a_par, "en", "Wire"),
        "/wire/b": page(
            corpus_pages.title(corpus_pages.GERMAN), P(corpus_pages.GERMAN), "de", "Wire"
        ),
        "/local/a-copy": page(
            "Border standoff: what it means", [LOCAL_INTRO, *a_par[:5], *a_par[6:]], "en"
        ),
        "/local/a-repost": page("Poland's border under pressure", a_par, "en", "Local"),
        "/local/quake-1": page("Clashes at the border", P("clashes-at-the-border"), "en"),
        "/local/quake-2": page("Crossing closed", P("poland-closes-kuznica-crossing"), "en"),
        "/regional/c": page(corpus_pages.title(corpus_pages.ENGLISH), c_par, "en", "Regional"),
        "/regional/c-copy": page(
            "Climate deal", [*c_par[: len(c_par) * 2 // 3], BOILERPLATE], "en", "Regional"
        ),
    }
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    for path, html in served.items():
        httpserver.expect_request(path).respond_with_data(html, content_type="text/html")
    grens = WIRE
    west = [*P("museum-reopens-after-refit"), *P("rail-fares-to-rise")]
    served.update(
        {
            "/nl/grens-1": page("Waterkanon bij Kuźnica", grens[:2], "nl"),
            "/nl/grens-2": page("Poetin belooft Loekasjenko steun", grens[2:], "nl"),
            # English, quoting one Dutch paragraph: related, but in another language.
            "/en/quote": page("Press review", [*west, f"A Dutch paper wrote: {grens[0]}"], "en"),
        }
    )
    for path in ("/nl/grens-1", "/nl/grens-2", "/en/quote"):
        httpserver.expect_request(path).respond_with_data(served[path], content_type="text/html")
    feeds = {
        "background": ["/nl/grens-1", "/nl/grens-2", "/en/quote"],
        "wire": ["/wire/a", "/wire/b"],
        "local": [
            "/local/a-copy",
            "/local/a-repost",
            "/local/quake-1",
            "/local/quake-2",
            "/wire/a",
        ],
        "regional": ["/regional/c", "/regional/c-copy"],
    }
    for name, paths in feeds.items():
        httpserver.expect_request(f"/feeds/{name}.xml").respond_with_data(
            rss(httpserver, paths), content_type="application/rss+xml"
        )
    return {
        name: Feed(name, httpserver.url_for(f"/feeds/{name}.xml"), source=name.title())
        for name in feeds
    }


def by_path(es: Elasticsearch, settings: Settings) -> dict[str, dict[str, object]]:
    names = store.IndexNames(settings.index_prefix)
    store.refresh(es, names)
    hits = es.search(index=names.articles, size=100, query={"match_all": {}})["hits"]["hits"]
    return {
        "/" + h["_source"]["url"].split("/", 3)[3]: {"id": h["_id"], **h["_source"]} for h in hits
    }


# -- the fingerprint ---------------------------------------------------------------------


def test_tokens_fold_case_width_and_punctuation_and_split_han_and_kana() -> None:
    assert stories.tokens("Kalifat-Rufen in HAMBURG, 1100 Anhänger!") == [
        "kalifat",
        "rufen",
        "in",
        "hamburg",
        "1100",
        "anhänger",
    ]
    assert stories.tokens("震度５弱の地震") == ["震", "度", "5", "弱", "の", "地", "震"]


def test_unspaced_text_gets_shingles_twice_as_many_characters_long() -> None:
    spaced = stories.shingles("a b c d e f", size=4)
    assert b"a b c d" in spaced and len(spaced) == 3
    japanese = stories.shingles("気象庁は十三日午後九時十九分ごろ", size=4)
    assert all(len(s.decode().split()) == 8 for s in japanese)


def test_fingerprint_is_deterministic_and_skips_short_bodies() -> None:
    text = " ".join(f"woord{i}" for i in range(60))
    first, second = stories.fingerprint(text), stories.fingerprint(text)
    assert first is not None and first == second
    assert len(first.bands) == stories.BANDS == 42
    assert all(key.startswith(f"{stories.PARAMS.scheme}:") for key in first.bands)
    assert stories.fingerprint("te kort om iets over te zeggen") is None


def test_signatures_are_datasketchs_bit_for_bit_in_every_corpus_language() -> None:
    """The stored signatures and band keys were made by datasketch 2.x (affine32, seed 1):
    the numpy MinHash the workers use must give the same values, or no new article would
    join a story stored before it."""
    from datasketch import MinHash

    texts = ["\n\n".join(a.versions[0].paragraphs) for a in corpus_pages.corpus().articles]
    texts.append("気象庁は十三日午後九時十九分ごろ、震度５弱の地震があったと発表した。" * 4)
    compared = 0
    for text in texts:
        shingle_set = stories.shingles(text)
        if len(shingle_set) < stories.PARAMS.min_shingles:
            continue
        sketch = MinHash(num_perm=stories.NUM_PERM, seed=1, scheme="affine32")
        sketch.update_batch(sorted(shingle_set))
        expected = sketch.hashvalues.astype("<u4")
        assert stories.minhash_values(shingle_set, stories.NUM_PERM).tobytes() == expected.tobytes()
        compared += 1
    assert compared > 100
    empty = MinHash(num_perm=stories.NUM_PERM, seed=1, scheme="affine32").hashvalues
    assert stories.minhash_values([], stories.NUM_PERM).tobytes() == empty.astype("<u4").tobytes()


def test_fingerprint_keeps_the_band_keys_stored_by_earlier_versions() -> None:
    """Pinned values (computed with datasketch 2.0.0 before the numpy MinHash replaced it)."""
    fingerprint = stories.fingerprint(" ".join(f"woord{i}" for i in range(60)))
    assert fingerprint is not None
    assert fingerprint.minhash.startswith("a69OAvi0iwctd5kCAcB5AaUhlAUNdtkCD1mzEfq6")
    assert fingerprint.bands[0] == "m4.128.42:00:b2981815b22da594"
    assert fingerprint.bands[41] == "m4.128.42:41:8f7af4052f55d316"


def test_fingerprinting_does_not_import_scipy() -> None:
    """Every extraction worker fingerprints: scipy (~50 MB a process, via datasketch's
    package) must not come with it."""
    code = (
        "import sys; from ingest.extract import pool as worker; worker.warm_up(); "
        "print(sorted(m for m in ('scipy', 'datasketch') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_extraction_workers_import_no_elasticsearch_and_no_rich() -> None:
    """The workers fingerprint through `ingest.stories.minhash`, which must not bring the
    package's Elasticsearch half (`batch`, `related`) or the CLI's rendering with it."""
    code = (
        "import sys; import ingest.extract.preload; "
        "print(sorted(m for m in ('elasticsearch', 'elastic_transport', 'rich') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_copies_are_similar_and_other_reports_are_not() -> None:
    original = stories.fingerprint("\n\n".join(REPORT_A))
    copy = stories.fingerprint("\n\n".join([LOCAL_INTRO, *REPORT_A[:5], *REPORT_A[6:]]))
    other = stories.fingerprint("\n\n".join(P(corpus_pages.ENGLISH)))
    same_topic = stories.fingerprint("\n\n".join(P("clashes-at-the-border")))
    assert original and copy and other and same_topic
    assert stories.similarity(original.minhash, copy.minhash) > 0.7
    assert stories.is_near_copy(original, copy)
    for unlike in (other, same_topic):
        assert stories.similarity(original.minhash, unlike.minhash) < 0.05
        assert not stories.is_near_copy(original, unlike)


def test_pool_prefers_exact_copies_then_the_earliest_among_equals() -> None:
    text = " ".join(f"woord{i}" for i in range(80))
    fp = stories.fingerprint(text)
    pool = CandidatePool()
    pool.add(StoryMember("first", "first", "A", "other-hash", fp))
    pool.add(StoryMember("second", "first", "B", "other-hash", fp))
    match = pool.best_match("new-hash", fp)
    assert match and match.member.id == "first" and match.similarity == 1.0 and not match.exact
    pool.add(StoryMember("exact", "exact", "C", "new-hash", None))
    exact = pool.best_match("new-hash", fp)
    assert exact and exact.member.id == "exact" and exact.exact
    assert pool.best_match("unrelated", stories.fingerprint(text[::-1])) is None


# -- through the pipeline, against Elasticsearch ------------------------------------------


@pytest.fixture
def run_settings(settings: Settings) -> Settings:
    return replace(settings, batch_size=50)


@pytest.mark.es
def test_stories_form_across_runs_and_within_a_batch(
    site: dict[str, Feed], run_settings: Settings, es: Elasticsearch, httpserver: HTTPServer
) -> None:
    first = run_feeds([site["wire"]], run_settings, es)
    assert first.counts["stories.new"] == 2 and first.counts["articles.new"] == 2

    second = run_feeds([site["local"]], run_settings, es)
    assert second.counts["stories.near_copies"] == 1
    assert second.counts["stories.exact_copies"] == 1
    assert second.counts["stories.new"] == 2  # the two earthquake reports
    assert second.counts["entries.known"] == 1  # /wire/a listed again: not fetched again

    third = run_feeds([site["regional"]], run_settings, es)
    assert third.counts["stories.new"] == 1 and third.counts["stories.near_copies"] == 1

    docs = by_path(es, run_settings)
    a, b = docs["/wire/a"], docs["/wire/b"]
    near, exact = docs["/local/a-copy"], docs["/local/a-repost"]
    # The first article of a story is its root and keeps the counts.
    assert a["story_id"] == a["id"] and a["duplicate_of"] is None
    assert a["story_size"] == 3
    assert a["story_sources"] == ["Local", "Wire"] and a["story_outlets"] == 2
    assert near["story_id"] == a["id"] and near["duplicate_of"] == a["id"]
    assert 0.3 <= near["duplicate_similarity"] < 1.0  # type: ignore[operator]
    assert exact["story_id"] == a["id"] and exact["duplicate_of"] == a["id"]
    assert exact["duplicate_similarity"] == 1.0 and exact["content_hash"] == a["content_hash"]
    assert near["story_size"] is None and near["story_sources"] == []
    # Same topic, different reports: each a story of its own.
    quake_1, quake_2 = docs["/local/quake-1"], docs["/local/quake-2"]
    for doc in (b, quake_1, quake_2):
        assert doc["story_id"] == doc["id"] and doc["duplicate_of"] is None
        assert doc["story_size"] == 1 and doc["story_outlets"] == 1
    assert quake_1["language"] == quake_2["language"] == "en"
    # Two copies in one batch find each other.
    c, c_copy = docs["/regional/c"], docs["/regional/c-copy"]
    assert c_copy["duplicate_of"] == c["id"] and c_copy["story_id"] == c["id"]
    assert c["story_size"] == 2 and c["story_sources"] == ["Regional"]
    # The fingerprint is stored for the next look-ups.
    assert len(a["lsh_bands"]) == stories.BANDS and a["minhash"]  # type: ignore[arg-type]


@pytest.mark.es
def test_seen_again_updates_feeds_and_last_seen_without_fetching(
    site: dict[str, Feed], run_settings: Settings, es: Elasticsearch, httpserver: HTTPServer
) -> None:
    run_feeds([site["wire"]], run_settings, es)
    before = by_path(es, run_settings)["/wire/a"]
    fetched = sum(1 for request, _ in httpserver.log if request.path == "/wire/a")

    run_feeds([site["local"]], run_settings, es)
    after = by_path(es, run_settings)["/wire/a"]
    assert sum(1 for request, _ in httpserver.log if request.path == "/wire/a") == fetched == 1
    assert sorted(after["feeds"]) == ["local", "wire"]  # type: ignore[call-overload]
    assert str(after["last_seen_at"]) > str(before["last_seen_at"])
    assert after["first_seen_at"] == before["first_seen_at"]
    assert after["body"] == before["body"] and after["story_id"] == before["story_id"]


NOW = datetime(2024, 8, 8, tzinfo=UTC)


def article(doc_id: str, source: str, text: str, now: datetime = NOW) -> Article:
    """An article as the pipeline builds it before the stories step (fingerprinted)."""
    fp = stories.fingerprint(text)
    return new_article(
        doc_id,
        now,
        source,
        body=text,
        content_hash=content_hash(text),
        minhash=fp.minhash if fp else None,
        lsh_bands=list(fp.bands) if fp else [],
    )


@pytest.mark.es
def test_exact_repost_in_the_same_batch_as_its_original(
    es: Elasticsearch, settings: Settings
) -> None:
    """No fetch needed: assignment works on articles as the pipeline builds them."""

    names = store.IndexNames(settings.index_prefix)
    body = " ".join(f"woord{i}" for i in range(80))

    batch = [article("one", "a.nl", body), article("two", "b.nl", body + "!")]
    outcome = stories.assign_stories(es, names, batch)
    assert outcome.exact_copies == 1 and outcome.new_stories == 1 and not outcome.joins
    assert batch[1].duplicate_of == "one" and batch[0].story_sources == ["a.nl", "b.nl"]
    written = store.bulk_index(es, names, batch).written
    assert not stories.after_indexing(es, names, outcome, batch, written)
    # A later copy, in another batch, is counted on the root by a partial update.
    later = [article("three", "c.nl", body)]
    outcome = stories.assign_stories(es, names, later)
    assert later[0].story_id == "one" and outcome.joins == {"one": [("three", "c.nl")]}
    written = store.bulk_index(es, names, later).written
    assert not stories.after_indexing(es, names, outcome, later, written)
    root = es.get(index=names.first_article_index, id="one")["_source"]
    assert root["story_size"] == 3 and root["story_outlets"] == 3
    # One more reprint: its look-up brings the story's first article, not its every copy.
    reprint = [article("four", "d.nl", body)]
    outcome = stories.assign_stories(es, names, reprint)
    assert reprint[0].duplicate_of == "one" and outcome.candidates == 1
    # A near copy is compared with every article sharing a band: the three indexed ones.
    edited = [article("five", "e.nl", body.replace("woord7 ", "woord77 "))]
    outcome = stories.assign_stories(es, names, edited)
    assert edited[0].story_id == "one" and outcome.near_copies == 1 and outcome.candidates == 3


@pytest.mark.es
def test_later_batches_find_the_articles_searches_do_not_see_yet(
    es: Elasticsearch, settings: Settings
) -> None:
    """Batches are not refreshed one by one: the run's tracker stands in until it is full."""
    names = store.IndexNames(settings.index_prefix)
    index = names.first_article_index
    es.indices.put_settings(index=index, settings={"refresh_interval": "-1"})  # ours only
    body = " ".join(f"woord{i}" for i in range(80))
    tracker = stories.Unrefreshed(limit=3)

    def store_batch(batch: list[Article]) -> stories.StoryOutcome:
        outcome = stories.assign_stories(es, names, batch, unrefreshed=tracker)
        written = store.bulk_index(es, names, batch).written
        assert not stories.after_indexing(es, names, outcome, batch, written, (), tracker)
        return outcome

    def searchable() -> int:
        return int(es.count(index=names.articles)["count"])

    store_batch([article("one", "a.nl", body)])
    assert searchable() == 0 and len(tracker) == 1
    reprint = [article("two", "b.nl", body)]
    outcome = store_batch(reprint)
    assert reprint[0].duplicate_of == "one" and outcome.exact_copies == 1
    assert outcome.joins == {"one": [("two", "b.nl")]}  # counted on the root by id, unrefreshed
    assert outcome.candidates == 0 and searchable() == 0  # found in the tracker, not by a search
    edited = [article("three", "c.nl", body.replace("woord7 ", "woord77 "))]
    outcome = store_batch(edited)
    assert edited[0].story_id == "one" and outcome.near_copies == 1
    # The third article filled the tracker: its indices were refreshed and it was emptied.
    assert searchable() == 3 and len(tracker) == 0
    root = es.get(index=index, id="one")["_source"]
    assert root["story_size"] == 3 and root["story_outlets"] == 3


@pytest.mark.es
def test_an_index_created_before_the_story_fields_accepts_them_after_setup(
    es: Elasticsearch, settings: Settings
) -> None:
    """Templates apply to new indices only; install_templates adds new fields to old ones."""
    names = store.IndexNames(settings.index_prefix)
    old = store.load_template("articles", names)["template"]
    del old["mappings"]["properties"]["lsh_bands"]
    index = f"{names.articles}-000002"
    es.indices.delete_index_template(name=f"{names.prefix}-articles")
    es.indices.create(index=index, mappings=old["mappings"], settings=old["settings"])
    assert "lsh_bands" not in es.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    store.install_templates(es, names)
    assert "lsh_bands" in es.indices.get_mapping(index=index)[index]["mappings"]["properties"]


@pytest.mark.es
def test_related_lists_the_story_and_similar_articles_same_language_first(
    site: dict[str, Feed], run_settings: Settings, es: Elasticsearch
) -> None:
    for name in ("background", "wire", "local"):
        run_feeds([site[name]], run_settings, es)
    docs = by_path(es, run_settings)
    runner = CliRunner()
    base = ["--es-url", run_settings.es_url, "--prefix", run_settings.index_prefix]

    copy = runner.invoke(cli, [*base, "related", str(docs["/local/a-copy"]["url"]), "--json"])
    assert copy.exit_code == 0, copy.output
    found = json.loads(copy.output)
    assert found["article"]["relation"].startswith("near copy (")
    story = found["story"]
    assert story["id"] == docs["/wire/a"]["id"] and story["size"] == 3
    assert story["sources"] == ["Local", "Wire"] and story["outlets"] == 2
    relations = {
        a["url"].rsplit("/", 2)[-2] + "/" + a["url"].rsplit("/", 1)[-1]: a["relation"]
        for a in story["articles"]
    }
    assert relations == {"wire/a": "original", "local/a-repost": "exact copy"}
    assert all(a["published_at"] and a["source"] for a in story["articles"])
    assert docs["/local/a-copy"]["id"] not in {a["id"] for a in found["related"]}

    grens = runner.invoke(cli, [*base, "related", str(docs["/nl/grens-1"]["id"]), "--json"])
    related = json.loads(grens.output)["related"]
    assert json.loads(grens.output)["story"]["size"] == 1
    urls = [r["url"].rsplit("/", 1)[1] for r in related]
    assert urls[0] == "grens-2" and "grens-1" not in urls
    assert "quote" in urls  # found through the quoted paragraph ...
    languages = [r["language"] for r in related]
    assert languages == sorted(languages, key=lambda lang: lang != "nl")  # ... after Dutch ones

    shown = runner.invoke(
        cli, [*base, "related", str(docs["/nl/grens-1"]["url"])], terminal_width=140
    )
    assert shown.exit_code == 0 and "No other copy of this story" in shown.output
    assert "Related coverage" in shown.output and "Press review" in shown.output
