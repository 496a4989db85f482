"""Attention analysis: what `terms`, `compare`, `breakdown` and `trend --normalize` cost.

    .venv/bin/python benchmarks/attention.py                     # 20,000 articles, 7 repeats
    .venv/bin/python benchmarks/attention.py --articles 5000 --repeat 3
    ES_URL=http://127.0.0.1:9229 .venv/bin/python benchmarks/attention.py

Without ES_URL it starts (or reuses) the embedded Elasticsearch on --es-port.

The articles are generated with a fixed seed (nothing outside the repository is read): 30 days
of November 2021, six languages, 40 sources, each body 60-200 words drawn from a Zipf-like
vocabulary of 5,000 words, a tenth of the articles about a "border" topic with its own words,
and one story in twenty reprinted by 2-5 outlets. They are indexed through `store.bulk_index`,
as the pipeline does. Each command's own library call is then timed against a baseline
measured in the same run: `search_articles` for the same query (the ten best hits), the
cheapest question a user asks. It prints the median of `--repeat` runs of each and its ratio to
the baseline; `--json FILE` keeps the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from elasticsearch import Elasticsearch  # noqa: E402

from ingest import embedded, store  # noqa: E402
from ingest.analysis import attention  # noqa: E402
from ingest.analysis.search import SearchFilters, search_articles  # noqa: E402
from ingest.analysis.trends import TrendRequest, coverage_trend  # noqa: E402
from ingest.config import Settings  # noqa: E402
from ingest.models import Article  # noqa: E402

SEED = 20211116
PREFIX = "mmbench-attention"
LANGUAGES = ("nl", "en", "de", "pl", "fr", "ru")
TOPIC = ("grens", "kuznica", "migranten", "waterkanon", "loekasjenko", "hek", "kamp", "soldaten")
QUERY = "kuznica OR waterkanon"
SINCE, UNTIL = "2021-11-01", "2021-11-30"
console = Console()


def vocabulary(rng: random.Random, size: int = 5000) -> list[str]:
    letters = "abcdefghijklmnoprstuvwz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) for _ in range(size)]


def make_articles(n: int, rng: random.Random) -> list[Article]:
    words = vocabulary(rng)
    weights = [1 / (rank + 1) for rank in range(len(words))]
    start = datetime(2021, 11, 1, tzinfo=UTC)
    articles: list[Article] = []
    while len(articles) < n:
        body_words = rng.choices(words, weights, k=rng.randint(60, 200))
        if rng.random() < 0.1:
            body_words += rng.choices(TOPIC, k=rng.randint(3, 8))
            rng.shuffle(body_words)
        body = " ".join(body_words)
        when = start + timedelta(minutes=rng.randrange(30 * 24 * 60))
        language = rng.choice(LANGUAGES)
        story = f"s{len(articles)}"
        copies = rng.randint(2, 5) if rng.random() < 0.05 else 1
        for copy in range(copies):
            source = f"outlet{rng.randrange(40)}"
            doc_id = f"{story}-{copy}"
            articles.append(
                Article(
                    id=doc_id,
                    url=f"https://{source}.example/{doc_id}",
                    canonical_url=f"https://{source}.example/{doc_id}",
                    domain=f"{source}.example",
                    source=source,
                    feeds=[source],
                    title=" ".join(body_words[:8]),
                    summary="",
                    body=body,
                    language=language,
                    language_confidence=1.0,
                    language_source="text",
                    published_at=when + timedelta(hours=copy),
                    date_source="page",
                    first_seen_at=when,
                    last_seen_at=when,
                    fetched_at=when,
                    extraction_status="ok",
                    story_id=story,
                )
            )
    return articles[:n]


def timed(fn: Callable[[], Any], repeat: int) -> float:
    """Median milliseconds of `repeat` calls, after one call that warms the caches."""
    fn()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def connect(es_port: int) -> Elasticsearch:
    settings = Settings.from_env(index_prefix=PREFIX)
    if not os.environ.get("ES_URL"):
        status = embedded.start(settings.home, port=es_port)
        settings = Settings.from_env(index_prefix=PREFIX, es_url=status.url)
    return store.connect(settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--es-port", type=int, default=9200)
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    args = parser.parse_args()

    es = connect(args.es_port)
    names = store.IndexNames(PREFIX)
    store.delete_all(es, names)
    store.install_templates(es, names)
    articles = make_articles(args.articles, random.Random(SEED))
    with console.status(f"indexing {len(articles):,} generated articles …"):
        for start in range(0, len(articles), 1000):
            store.bulk_index(es, names, articles[start : start + 1000])
        store.refresh(es, names)
    filters = SearchFilters(since=SINCE, until=UNTIL)
    queries = {"border": QUERY, "camp": "kamp OR hek", "soldiers": "soldaten"}
    calls: dict[str, Callable[[], Any]] = {
        "search (baseline)": lambda: search_articles(es, names, QUERY, filters, limit=10),
        "trend --normalize": lambda: coverage_trend(
            es, names, TrendRequest(QUERY, "day", since=SINCE, until=UNTIL, normalize=True)
        ),
        "compare (3 queries)": lambda: attention.compare_queries(
            es, names, queries, "day", filters
        ),
        "breakdown --sample 10": lambda: attention.breakdown(
            es, names, QUERY, "source", filters, top=10, sample=10
        ),
        "terms": lambda: attention.significant_terms(es, names, QUERY, filters),
    }
    figures = {name: timed(call, args.repeat) for name, call in calls.items()}
    baseline = figures["search (baseline)"]
    table = Table(title=f"{len(articles):,} articles, median of {args.repeat}", box=None)
    for column in ("call", "ms", "x search"):
        table.add_column(column, justify="left" if column == "call" else "right")
    for name, ms in figures.items():
        table.add_row(name, f"{ms:.1f}", f"{ms / baseline:.1f}")
    console.print(table)
    if args.json:
        payload = {"articles": len(articles), "repeat": args.repeat, "median_ms": figures}
        args.json.write_text(json.dumps(payload, indent=2))
    store.delete_all(es, names)


if __name__ == "__main__":
    main()
