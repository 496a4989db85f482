"""What a NEAR costs: the same word pairs as `a AND b` rules and as `a NEAR/5 b` rules.

    .venv/bin/python benchmarks/near.py                      # 500 rules x the demo corpus
    .venv/bin/python benchmarks/near.py --rules 200 --copies 2 --repeat 5 --es-port 9294

Without ES_URL it starts (or reuses) the embedded Elasticsearch on --es-port. Articles are the
demo corpus (`examples/demo/corpus`, six languages), `--copies` times; each rule is two words
of at least five letters, next to each other in one article's text (so most rules match
something), written once as `a AND b` (one query-string query) and once as `a NEAR/5 b` (an
`intervals` query per text field, `ingest.analysis.query_syntax`). Both rule sets are synced
into the same rules index layout and percolated against the same batch with `alerts.percolate`, and
the same queries are run as searches over the indexed batch (`search.search_articles`, the
path of `mediamon search`). It prints the median of `--repeat` runs of each and the ratios
NEAR / AND; every NEAR match must also be an AND match (the script checks it).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from elasticsearch import Elasticsearch  # noqa: E402

from benchmarks.percolate import timed  # noqa: E402
from ingest import alerts, embedded, store  # noqa: E402
from ingest.analysis.search import search_articles  # noqa: E402
from ingest.config import Settings  # noqa: E402
from ingest.demo.corpus import load_corpus  # noqa: E402
from ingest.models import Article  # noqa: E402

SEED = 20211116
PREFIX = "mmbench-near"
_WORD = re.compile(r"\w{5,}", re.UNICODE)


def make_articles(copies: int) -> list[Article]:
    articles = []
    for copy in range(copies):
        for source in load_corpus().articles:
            version = source.versions[0]
            body = "\n\n".join(version.paragraphs)
            at = source.published
            url = f"https://{source.outlet.host}/{copy}/{source.id}"
            articles.append(Article(
                id=f"{source.id}-{copy}", url=url, canonical_url=url, domain=source.outlet.host,
                source=source.outlet.name, feeds=["bench"], title=version.title, summary="",
                body=body, language=source.outlet.language, language_confidence=1.0,
                language_source="text", published_at=at, date_source="page", first_seen_at=at,
                last_seen_at=at, fetched_at=at, extraction_status="ok",
                word_count=len(body.split()),
            ))  # fmt: skip
    return articles


def word_pairs(articles: list[Article], n: int, rng: random.Random) -> list[tuple[str, str]]:
    pairs = []
    while len(pairs) < n:
        words = _WORD.findall(rng.choice(articles).body)
        if len(words) >= 2:
            at = rng.randrange(len(words) - 1)
            pairs.append((words[at], words[at + 1]))
    return pairs


def matched_pairs(es: Elasticsearch, names: store.IndexNames, batch: list[Article]) -> set:
    matches = alerts.percolate(es, names, batch)
    return {(rule, article) for article, rules in matches.by_article.items() for rule in rules}


def searched_pairs(es: Elasticsearch, names: store.IndexNames, rules: list[alerts.Rule]) -> set:
    pairs = set()
    for rule in rules:
        _, hits = search_articles(es, names, rule.query, limit=1000)
        pairs |= {(rule.id, hit.id) for hit in hits}
    return pairs


def connect(es_port: int) -> Elasticsearch:
    settings = replace(Settings.from_env(), index_prefix=PREFIX)
    if not os.environ.get("ES_URL"):
        settings = replace(settings, es_url=embedded.start(settings.home, port=es_port).url)
    return store.connect(settings).options(request_timeout=300)


Timing = tuple[float, set]


def measure(
    es: Elasticsearch, batch: list[Article], rules: list[alerts.Rule], repeat: int
) -> tuple[Timing, Timing]:
    """Median percolate and search time of `rules`, each in indices of their own."""
    names = store.IndexNames(PREFIX)
    store.delete_all(es, names)
    try:
        store.install_templates(es, names)
        alerts.sync_rules(es, names, rules)
        store.bulk_index(es, names, batch)
        store.refresh(es, names)
        matched_pairs(es, names, batch)  # one untimed round of each: warm caches
        searched_pairs(es, names, rules)
        percolate = timed(lambda: matched_pairs(es, names, batch), repeat)
        search = timed(lambda: searched_pairs(es, names, rules), repeat)
    finally:
        store.delete_all(es, names)
    return percolate, search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rules", type=int, default=500)
    parser.add_argument("--copies", type=int, default=1, help="copies of the demo corpus")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--es-port", type=int, default=9200)
    args = parser.parse_args()

    batch = make_articles(args.copies)
    pairs = word_pairs(batch, args.rules, random.Random(SEED))
    both = [alerts.Rule(f"r{i:04d}", f"{a} AND {b}") for i, (a, b) in enumerate(pairs)]
    near = [alerts.Rule(f"r{i:04d}", f"{a} NEAR/5 {b}") for i, (a, b) in enumerate(pairs)]
    es = connect(args.es_port)
    (and_perc, and_perc_pairs), (and_search, and_search_pairs) = measure(
        es, batch, both, args.repeat
    )
    (near_perc, near_perc_pairs), (near_search, near_search_pairs) = measure(
        es, batch, near, args.repeat
    )
    if not (
        near_perc_pairs <= and_perc_pairs
        and near_perc_pairs == near_search_pairs
        and and_perc_pairs == and_search_pairs
    ):
        print("results differ: a NEAR match that is not an AND match, or percolate != search")
        raise SystemExit(1)
    version = es.info()["version"]["number"]
    print(f"{len(pairs)} rules x {len(batch)} articles, Elasticsearch {version}, "
          f"median of {args.repeat}")  # fmt: skip
    print(f"matches: AND {len(and_perc_pairs)}, NEAR/5 {len(near_perc_pairs)}")
    print(f"percolate  AND {and_perc:.3f} s  NEAR/5 {near_perc:.3f} s")
    print(f"search     AND {and_search:.3f} s  NEAR/5 {near_search:.3f} s  (one per rule)")
    print(f"ratio percolate NEAR / AND: {near_perc / and_perc:.2f}")
    print(f"ratio search NEAR / AND: {near_search / and_search:.2f}")


if __name__ == "__main__":
    main()
