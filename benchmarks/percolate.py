"""Alert matching: one multi-document percolate against running every rule as a search.

    .venv/bin/python benchmarks/percolate.py                      # 1,000 rules x 1,000 articles
    .venv/bin/python benchmarks/percolate.py --rules 200 --articles 200 --repeat 5
    ES_URL=http://127.0.0.1:9229 .venv/bin/python benchmarks/percolate.py

Without ES_URL it starts (or reuses) the embedded Elasticsearch on --es-port.

Rules and articles are generated with a fixed seed from the shared corpus (25 real articles in
13 languages, plus the Dutch seed article): an article is a title sentence and 4–12 body
sentences of one language; a rule is a word, two words OR-ed or AND-ed, or a two-word phrase
from the same text, a third of them restricted to their language. Both methods run the
pipeline's own queries (`Rule.percolator_query`, i.e. `search.text_query` + filters):

- **percolate**: `ingest.alerts.percolate`, what the pipeline does for each batch before
  indexing: one request for the whole batch, every rule;
- **search per rule**: the batch indexed first (not timed), then one search per rule
  restricted to the batch's ids, one request after the other; and the same searches sent as
  `_msearch` requests of 100, the fairest form of the search approach.

Both must find the same (rule, article) pairs; the script checks it. It prints the median
time of `--repeat` runs of each and the ratios.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from elasticsearch import Elasticsearch  # noqa: E402

from ingest import alerts, embedded, store  # noqa: E402
from ingest.config import Settings  # noqa: E402
from ingest.models import Article  # noqa: E402

SEED = 20211116
PREFIX = "mmbench-percolate"
console = Console()
_SENTENCE = re.compile(r"(?<=[.!?。])\s+")
_WORD = re.compile(r"\w{5,}", re.UNICODE)


def corpus(shared: Path) -> dict[str, list[str]]:
    """Sentences of the shared corpus, by language."""
    by_language: dict[str, list[str]] = {}
    for line in (shared / "corpus" / "pages.jsonl").read_text(encoding="utf-8").splitlines():
        page = json.loads(line)
        text = page.get("body") or ""
        if not text and page.get("file"):
            text = gzip.decompress((shared / "corpus" / page["file"]).read_bytes()).decode()
        sentences = [s.strip() for s in _SENTENCE.split(text) if len(s.strip()) > 30]
        by_language.setdefault(page["lang"], []).extend(sentences)
    seed = (shared / "seed" / "border-crisis-nl-2021-11.txt").read_text(encoding="utf-8")
    by_language.setdefault("nl", []).extend(
        s.strip() for s in _SENTENCE.split(seed) if len(s.strip()) > 30
    )
    return {lang: sentences for lang, sentences in by_language.items() if len(sentences) >= 5}


def make_articles(sentences: dict[str, list[str]], n: int, rng: random.Random) -> list[Article]:
    now = datetime(2021, 11, 16, tzinfo=UTC)
    languages = sorted(sentences)
    articles = []
    for i in range(n):
        lang = languages[i % len(languages)]
        pool = sentences[lang]
        body = " ".join(rng.sample(pool, min(len(pool), rng.randint(4, 12))))
        url = f"https://bench.example/{lang}/{i}"
        articles.append(Article(
            id=f"a{i:05d}", url=url, canonical_url=url, domain="bench.example",
            source=f"Source {i % 7}", feeds=["bench"], title=rng.choice(pool)[:200], summary="",
            body=body, language=lang, language_confidence=1.0, language_source="text",
            published_at=now, date_source="page", first_seen_at=now, last_seen_at=now,
            fetched_at=now, extraction_status="ok", word_count=len(body.split()),
        ))  # fmt: skip
    return articles


def make_rules(sentences: dict[str, list[str]], n: int, rng: random.Random) -> list[alerts.Rule]:
    languages = sorted(sentences)
    rules = []
    for i in range(n):
        lang = rng.choice(languages)
        words = _WORD.findall(rng.choice(sentences[lang]))
        while len(words) < 2:
            words = _WORD.findall(rng.choice(sentences[lang]))
        a = rng.randrange(len(words) - 1)
        first, second, other = words[a], words[a + 1], rng.choice(words)
        query = rng.choice([
            first, f"{first} OR {other}", f"{first} AND {other}", f'"{first} {second}"',
        ])  # fmt: skip
        restricted = (lang,) if i % 3 == 0 else ()
        rules.append(alerts.Rule(f"rule-{i:04d}", query, languages=restricted))
    return rules


def pairs_by_percolate(es: Elasticsearch, names: store.IndexNames, batch: list[Article]) -> set:
    matches = alerts.percolate(es, names, batch)
    return {(rule, article) for article, rules in matches.by_article.items() for rule in rules}


Query = Callable[[alerts.Rule], dict[str, Any]]


def _search_body(query: dict[str, Any], ids: list[str]) -> dict[str, Any]:
    body = {"bool": {"must": [query], "filter": [{"ids": {"values": ids}}]}}
    return {"query": body, "size": len(ids), "_source": False, "track_total_hits": False}


def pairs_by_searches(
    es: Elasticsearch, names: store.IndexNames, rules: list[alerts.Rule], ids: list[str],
    query: Query,
) -> set:  # fmt: skip
    pairs = set()
    for rule in rules:
        response = es.search(index=names.articles, **_search_body(query(rule), ids))
        pairs |= {(rule.id, hit["_id"]) for hit in response["hits"]["hits"]}
    return pairs


def pairs_by_msearch(
    es: Elasticsearch, names: store.IndexNames, rules: list[alerts.Rule], ids: list[str],
    query: Query,
) -> set:  # fmt: skip
    pairs = set()
    for start in range(0, len(rules), 100):
        chunk = rules[start : start + 100]
        searches: list[dict[str, Any]] = []
        for rule in chunk:
            searches += [{"index": names.articles}, _search_body(query(rule), ids)]
        for rule, response in zip(chunk, es.msearch(searches=searches)["responses"], strict=True):
            pairs |= {(rule.id, hit["_id"]) for hit in response["hits"]["hits"]}
    return pairs


def timed(fn: Callable[[], set], repeat: int) -> tuple[float, set]:
    times, result = [], set()
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def connect(es_port: int) -> tuple[Settings, Elasticsearch]:
    settings = replace(Settings.from_env(), index_prefix=PREFIX)
    if not os.environ.get("ES_URL"):
        with console.status(f"Starting the embedded Elasticsearch on port {es_port} …"):
            status = embedded.start(settings.home, port=es_port)
        settings = replace(settings, es_url=status.url)
    client = store.connect(settings)
    return settings, client.options(request_timeout=300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--es-port", type=int, default=9200)
    shared = Path(os.environ.get("MEDIAMON_SHARED", REPO.parent / "shared"))
    parser.add_argument("--shared", type=Path, default=shared)
    args = parser.parse_args()

    rng = random.Random(SEED)
    sentences = corpus(args.shared)
    batch = make_articles(sentences, args.articles, rng)
    rules = make_rules(sentences, args.rules, rng)
    settings, es = connect(args.es_port)
    names = store.IndexNames(settings.index_prefix)
    store.delete_all(es, names)
    try:
        store.install_templates(es, names)
        with console.status(f"Validating and syncing {len(rules)} rules …"):
            alerts.sync_rules(es, names, rules)
        with console.status(f"Indexing {len(batch)} articles for the search-per-rule runs …"):
            store.bulk_index(es, names, batch)
            store.refresh(es, names)
        ids = [a.id for a in batch]
        same = alerts.article_query
        # One untimed round of each, so neither pays for cold caches.
        pairs_by_percolate(es, names, batch)
        pairs_by_msearch(es, names, rules, ids, same)
        with console.status("percolate …"):
            t_perc, by_perc = timed(lambda: pairs_by_percolate(es, names, batch), args.repeat)
        with console.status("one search per rule …"):
            t_search, by_search = timed(
                lambda: pairs_by_searches(es, names, rules, ids, same), args.repeat
            )
        with console.status("msearch …"):
            t_msearch, by_msearch = timed(
                lambda: pairs_by_msearch(es, names, rules, ids, same), args.repeat
            )
        with console.status("one plain search per rule …"):
            t_plain, by_plain = timed(
                lambda: pairs_by_searches(es, names, rules, ids, alerts.Rule.percolator_query),
                args.repeat,
            )
    finally:
        store.delete_all(es, names)

    if not (by_perc == by_search == by_msearch and by_perc <= by_plain):
        console.print(f"[red]results differ[/]: percolate {len(by_perc)}, "
                      f"search {len(by_search)}, msearch {len(by_msearch)}")  # fmt: skip
        raise SystemExit(1)
    version = es.info()["version"]["number"]
    table = Table("method", "requests", "median s", "vs percolate",
                  title=f"{len(rules)} rules x {len(batch)} articles, {len(by_perc)} matches, "
                        f"Elasticsearch {version}, median of {args.repeat}",
                  title_justify="left")  # fmt: skip
    pages = max(1, -(-len({r for r, _ in by_perc}) // alerts.PERCOLATE_PAGE))
    table.add_row("percolate (one multi-document request)", str(pages), f"{t_perc:.3f}", "1.0x")
    table.add_row("search per rule", str(len(rules)), f"{t_search:.3f}",
                  f"{t_search / t_perc:.1f}x slower")  # fmt: skip
    table.add_row("msearch, 100 rules a request", str(-(-len(rules) // 100)), f"{t_msearch:.3f}",
                  f"{t_msearch / t_perc:.1f}x slower")  # fmt: skip
    table.add_row(f"plain search per rule (every subfield: {len(by_plain)} matches)",
                  str(len(rules)), f"{t_plain:.3f}", f"{t_plain / t_perc:.1f}x slower")  # fmt: skip
    console.print(table)
    print(f"ratio search-per-rule / percolate: {t_search / t_perc:.1f}")
    print(f"ratio msearch / percolate: {t_msearch / t_perc:.1f}")
    print(f"ratio plain search-per-rule / percolate: {t_plain / t_perc:.1f}")


if __name__ == "__main__":
    main()
