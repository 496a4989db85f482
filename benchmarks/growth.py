"""What one more article costs as the index grows, and what per-language analysis costs.

    ES_URL=http://127.0.0.1:9231 .venv/bin/python benchmarks/growth.py            # 10k vs 300k
    ES_URL=... .venv/bin/python benchmarks/growth.py --small 2000 --large 20000 --json FILE

Without ES_URL it starts (or reuses) the embedded Elasticsearch on --es-port.

**Growth.** The pipeline's Elasticsearch work for a batch of new articles is measured with
`--small` and with `--large` articles already indexed (bulk-loaded, each size under an index
prefix of its own; the sizes take turns, batch by batch, so the machine's load falls on both
alike): the known-id look-up (`store.find_known`), the story look-ups and assignment
(`stories.assign_stories`), percolation against 100 rules (`alerts.percolate`), the
create-only write with its rollover-race check (`store.bulk_index`) and the story counters
(`stories.after_indexing`), each batch's articles all new. Per article: wall time of the
look-ups, of everything, and Elasticsearch's CPU (its process's, from /proc; node stats for a
remote cluster).
Before each measurement the node is left to finish merging, so neither size pays for the
load's merges. The articles are generated from the shared corpus's sentences (25 real
articles in 13 languages and the Dutch seed), a title and 4-12 sentences each; the measured
ones get the pipeline's real MinHash fingerprints, the bulk-loaded ones random band keys and
signatures of the same format, as unrelated texts have (300,000 real ones would take ~20 min
of CPU to compute, and the look-ups cost the same).

**Per-language analysis, before and after** (issue 14, item 2): the same articles
bulk-indexed three ways, side by side: one index whose text fields have 15 language
subfields, all filled (versions 1-2); one index per language group with that group's
subfields (version 3, before this layout; per month too); one index with `text.<group>` of
the article's own language (version 4). Elasticsearch CPU and wall time per article.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import random
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from elasticsearch import Elasticsearch  # noqa: E402

from benchmarks.percolate import corpus, make_rules  # noqa: E402
from ingest import alerts, embedded, store, stories  # noqa: E402
from ingest.config import Settings  # noqa: E402
from ingest.models import Article  # noqa: E402
from ingest.store.language_fields import group_of  # noqa: E402

SEED = 14
TARGET_RATIO = 1.5  # cost of one more article at --large over at --small


def generated(
    sentences: dict[str, list[str]],
    start: int,
    n: int,
    rng: random.Random,
    real: bool,
    body_chars: int = 0,
) -> list[Article]:
    """`n` articles numbered from `start`, in the corpus's languages in turn: 4-12 sentences
    each, or sentences up to `body_chars` characters if given."""
    languages = sorted(sentences)
    day = datetime(2024, 1, 1, tzinfo=UTC)
    articles = []
    for i in range(start, start + n):
        lang = languages[i % len(languages)]
        pool = sentences[lang]
        if body_chars:
            body = ""
            while len(body) < body_chars:
                body += " " + rng.choice(pool)
            body = body.strip()
        else:
            body = " ".join(rng.sample(pool, min(len(pool), rng.randint(4, 12))))
        published = day + timedelta(minutes=i)
        url = f"https://bench{i % 50}.example/{lang}/{i}"
        article = Article(
            id=f"g{i:07d}", url=url, canonical_url=url, domain=f"bench{i % 50}.example",
            source=f"Source {i % 50}", feeds=[f"feed-{i % 50}"], title=rng.choice(pool)[:200],
            summary="", body=body, language=lang, language_confidence=1.0,
            language_source="text", published_at=published, date_source="page",
            first_seen_at=published, last_seen_at=published, fetched_at=published,
            extraction_status="ok", word_count=len(body.split()),
            content_hash=f"{rng.getrandbits(128):032x}",
        )  # fmt: skip
        if real:
            fingerprint = stories.fingerprint(body)
            if fingerprint:
                article.minhash, article.lsh_bands = fingerprint.minhash, list(fingerprint.bands)
        else:  # the format of a real fingerprint (stories.PARAMS), random values
            article.minhash = base64.b64encode(rng.randbytes(512)).decode()
            article.lsh_bands = [
                f"m4.128.42:{band:02d}:{rng.getrandbits(64):016x}" for band in range(42)
            ]
        articles.append(article)
    return articles


def bulk_load(
    es: Elasticsearch,
    names: store.IndexNames,
    sentences: dict[str, list[str]],
    n: int,
    body_chars: int = 0,
) -> float:
    """Index `n` generated articles as fast as the node takes them; seconds taken."""
    rng = random.Random(SEED + n)
    began = time.perf_counter()
    for offset in range(0, n, 5000):
        size = min(5000, n - offset)
        chunk = generated(sentences, offset, size, rng, real=False, body_chars=body_chars)
        actions = (
            {"_op_type": "create", "_index": names.articles_write, "_id": a.id,
             "_source": store.article_document(a)}
            for a in chunk
        )  # fmt: skip
        outcome = store.bulk_write(es, actions)
        if outcome.failures:
            raise SystemExit(f"bulk load failed: {dict(outcome.failures)}")
    return time.perf_counter() - began


def settle(es: Elasticsearch, names: store.IndexNames) -> None:
    """Refresh, then wait until the node has no merge running (at most 10 minutes)."""
    es.indices.refresh(index=names.articles)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        merges = es.indices.stats(index=names.articles, metric="merge")["_all"]["total"]["merges"]
        if merges["current"] == 0:
            break
        time.sleep(2)
    time.sleep(3)


def es_cpu_ms(es: Elasticsearch) -> int:
    """CPU milliseconds the Elasticsearch process has used: from /proc when the node runs
    on this machine (exact to the clock tick), else from node stats (refreshed each second,
    so only long operations are measured well)."""
    nodes = list(es.nodes.info(metric="process")["nodes"].values())
    if len(nodes) == 1:
        stat = Path(f"/proc/{nodes[0]['process'].get('id', 0)}/stat")
        if stat.exists():
            fields = stat.read_text().rsplit(")", 1)[1].split()
            ticks = int(fields[11]) + int(fields[12])  # utime + stime
            return ticks * 1000 // os.sysconf("SC_CLK_TCK")
    stats = es.nodes.stats(metric="process")["nodes"].values()
    return sum(int(node["process"]["cpu"]["total_in_millis"]) for node in stats)


@dataclass
class BatchCost:
    articles: int
    lookup_s: float  # find_known + story look-ups and assignment + percolation
    total_s: float  # the above + bulk_index + after_indexing
    es_cpu_ms: int

    def per_article(self) -> dict[str, float]:
        return {
            "lookup_ms": 1000 * self.lookup_s / self.articles,
            "total_ms": 1000 * self.total_s / self.articles,
            "es_cpu_ms": self.es_cpu_ms / self.articles,
        }


def one_batch(es: Elasticsearch, names: store.IndexNames, batch: list[Article]) -> BatchCost:
    """The pipeline's Elasticsearch steps for one batch of new articles (`_store_batch`)."""
    cpu, began = es_cpu_ms(es), time.perf_counter()
    known = store.find_known(es, names, [a.id for a in batch])
    assert not known, "generated articles must be new"
    story = stories.assign_stories(es, names, batch)
    matches = alerts.percolate(es, names, batch)
    for article in batch:
        article.rules = matches.by_article.get(article.id, [])
    looked_up = time.perf_counter()
    outcome = store.bulk_index(es, names, batch)
    assert outcome.created == len(batch), outcome.failures
    stories.after_indexing(es, names, story, batch, outcome.written, outcome.failed_ids)
    done = time.perf_counter()
    return BatchCost(len(batch), looked_up - began, done - began, es_cpu_ms(es) - cpu)


def measure(
    es: Elasticsearch,
    indexed: dict[str, store.IndexNames],
    sentences: dict[str, list[str]],
    batches: int,
    batch_size: int,
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Per-article cost at each size, median over `batches` batches of new articles, the
    sizes taking turns batch by batch (so that the machine's load falls on both alike); and
    the median of each turn's large-over-small ratio."""
    rng = random.Random(SEED * 7)
    start = 5_000_000
    for names in indexed.values():  # not counted: caches and the JIT warm up
        one_batch(es, names, generated(sentences, start, batch_size, rng, real=True))
        start += batch_size
    costs: dict[str, list[dict[str, float]]] = {size: [] for size in indexed}
    for _ in range(batches):
        for size, names in indexed.items():
            batch = generated(sentences, start, batch_size, rng, real=True)
            start += batch_size
            costs[size].append(one_batch(es, names, batch).per_article())
            time.sleep(1)  # the refresh and merges of one batch do not fall on the next
    small, large = list(indexed)
    keys = list(costs[small][0])
    medians = {
        size: {key: statistics.median(c[key] for c in runs) for key in keys}
        for size, runs in costs.items()
    }
    ratios = {
        key: statistics.median(
            b[key] / a[key] for a, b in zip(costs[small], costs[large], strict=True) if a[key]
        )
        for key in keys
    }
    return medians, ratios


def legacy_article_mapping(names: store.IndexNames) -> dict[str, Any]:
    """The article mapping of versions 1-3, derived from mappings/articles.json: every text
    field with a subfield per language (filled for every article)."""
    template = store.load_template("articles", names)["template"]
    mappings = copy.deepcopy(template["mappings"])
    for group, spec in mappings["properties"].pop("text")["properties"].items():
        for name, sub in spec["properties"].items():
            mappings["properties"][name].setdefault("fields", {})[group] = sub
    return {"settings": template["settings"], "mappings": mappings}


def _narrowed(body: dict[str, Any], group: str) -> dict[str, Any]:
    """Version 3's index of one language group: the subfields of that group only."""
    body = copy.deepcopy(body)
    for spec in body["mappings"]["properties"].values():
        if "fields" in spec:
            spec["fields"] = {name: sub for name, sub in spec["fields"].items() if name == group}
            if not spec["fields"]:
                del spec["fields"]
    return body


def analysis_cost(
    es: Elasticsearch, names: store.IndexNames, sentences: dict[str, list[str]], n: int
) -> dict[str, dict[str, float]]:
    """ES CPU and wall time per article, bulk indexing the same `n` articles three ways:
    one index with every language's subfields, filled for every article (versions 1-2);
    an index per language group with that group's subfields (version 3: as many indices as
    groups, per month); one index with `text.<group>` of the article's language (version 4).
    Best of 3 each; the indices are created before the clock starts."""
    articles = generated(sentences, 9_000_000, n, random.Random(SEED), real=True)
    groups = store.article_groups()
    legacy = legacy_article_mapping(names)
    template = store.load_template("articles", names)["template"]
    current = {"settings": template["settings"], "mappings": template["mappings"]}
    results: dict[str, dict[str, float]] = {}
    for label in ("subfields_all_languages", "index_per_language_group", "own_language_only"):
        best: dict[str, float] = {}
        for attempt in range(3):
            base = f"{names.prefix}-analysis-{label.replace('_', '-')}-{attempt}"
            if label == "index_per_language_group":
                bodies = {f"{base}-{g}": _narrowed(legacy, g) for g in groups}
                actions = [
                    {"_op_type": "create", "_id": a.id, "_source": a.to_document(),
                     "_index": f"{base}-{group_of(a.language, groups)}"}
                    for a in articles
                ]  # fmt: skip
            else:
                bodies = {base: legacy if label == "subfields_all_languages" else current}
                document = (
                    store.article_document if bodies[base] is current else Article.to_document
                )
                actions = [
                    {"_op_type": "create", "_index": base, "_id": a.id, "_source": document(a)}
                    for a in articles
                ]
            for index, body in bodies.items():
                es.indices.create(index=index, **body)
            before = es_cpu_ms(es)
            time.sleep(2)
            idle = es_cpu_ms(es) - before  # the node's own background, 2 s of it
            cpu, began = es_cpu_ms(es), time.perf_counter()
            outcome = store.bulk_write(es, actions)
            es.indices.refresh(index=f"{base}*")
            took, used = time.perf_counter() - began, es_cpu_ms(es) - cpu
            assert outcome.created == n, outcome.failures
            es.indices.delete(index=f"{base}*")
            figures = {
                "es_cpu_ms": used / n,
                "wall_ms": 1000 * took / n,
                "idle_cpu_ms_per_s": idle / 2,
            }
            if not best or figures["es_cpu_ms"] < best["es_cpu_ms"]:
                best = figures
        results[label] = best
    return results


def storage_cost(
    es: Elasticsearch, prefix: str, sentences: dict[str, list[str]], args: argparse.Namespace
) -> dict[str, float]:
    """Primary store per article, for articles whose bodies have `--body-chars` characters
    (default: the shared corpus's mean), once the node has merged what it wanted to."""
    names = store.IndexNames(f"{prefix}-storage")
    store.install_templates(es, names)
    bulk_load(es, names, sentences, args.storage_articles, body_chars=args.body_chars)
    settle(es, names)
    stats = es.indices.stats(index=names.articles, metric="store,docs")["_all"]["primaries"]
    return {
        "articles": stats["docs"]["count"],
        "body_chars": args.body_chars,
        "bytes_per_article": stats["store"]["size_in_bytes"] / stats["docs"]["count"],
    }


def connect(es_port: int, prefix: str) -> tuple[Settings, Elasticsearch]:
    settings = replace(Settings.from_env(), index_prefix=prefix)
    if not os.environ.get("ES_URL"):
        status = embedded.start(settings.home, port=es_port)
        settings = replace(settings, es_url=status.url)
    return settings, store.connect(settings).options(request_timeout=300)


def run(args: argparse.Namespace) -> dict[str, Any]:
    prefix = f"mmbench-growth-{uuid.uuid4().hex[:6]}"
    settings, es = connect(args.es_port, prefix)
    names = store.IndexNames(prefix)
    sentences = corpus(args.shared)
    result: dict[str, Any] = {"started": datetime.now(UTC).isoformat(), "prefix": prefix}
    result["es_url"] = settings.es_url
    try:
        store.install_templates(es, names)
        rules = make_rules(sentences, 100, random.Random(SEED))
        alerts.sync_rules(es, names, rules)
        result["analysis"] = analysis_cost(es, names, sentences, args.analysis_articles)
        if args.storage_articles:
            result["storage"] = storage_cost(es, prefix, sentences, args)
        if args.analysis_only:
            return result
        indexed: dict[str, store.IndexNames] = {}
        for size in (args.small, args.large):
            at_size = store.IndexNames(f"{prefix}-{size}")
            store.install_templates(es, at_size)
            alerts.sync_rules(es, at_size, rules)
            result.setdefault("load_s", {})[str(size)] = bulk_load(es, at_size, sentences, size)
            indexed[str(size)] = at_size
        for at_size in indexed.values():
            settle(es, at_size)
        result["per_article"], result["ratio"] = measure(
            es, indexed, sentences, args.batches, args.batch
        )
        names = indexed[str(args.large)]
        result["indices"] = store.backing_indices(es, names)
        stats = es.indices.stats(index=names.articles, metric="store,docs")["_all"]["primaries"]
        result["store"] = {
            "articles": stats["docs"]["count"],
            "bytes": stats["store"]["size_in_bytes"],
            "bytes_per_article": stats["store"]["size_in_bytes"] / stats["docs"]["count"],
        }
    finally:
        es.options(ignore_status=404).indices.delete(index=f"{prefix}-*", expand_wildcards="all")
        for size in ("", "-storage", f"-{args.small}", f"-{args.large}"):
            store.delete_all(es, store.IndexNames(f"{prefix}{size}"))
    result["finished"] = datetime.now(UTC).isoformat()
    return result


def report(result: dict[str, Any], small: int, large: int) -> str:
    lines = []
    if "per_article" in result:
        sizes, ratio = result["per_article"], result["ratio"]
        lines.append(
            f"one more article, with {small:,} vs {large:,} already indexed (median of batches):"
        )
        for key in ("lookup_ms", "total_ms", "es_cpu_ms"):
            met = "yes" if ratio[key] <= TARGET_RATIO else "NO"
            lines.append(
                f"  {key:10} {sizes[str(small)][key]:7.2f} -> {sizes[str(large)][key]:7.2f}  "
                f"ratio {ratio[key]:.2f} (target <= {TARGET_RATIO}: {met})"
            )
        s = result["store"]
        lines.append(
            f"store: {s['articles']:,} articles, {s['bytes'] / 1e9:.2f} GB primary, "
            f"{s['bytes_per_article'] / 1e3:.1f} kB each; article indices: {len(result['indices'])}"
        )
    if "storage" in result:
        st = result["storage"]
        lines.append(
            f"store: {st['bytes_per_article'] / 1e3:.1f} kB per article of "
            f"{st['body_chars']:,} body characters ({st['articles']:,} articles)"
        )
    lines.append("bulk indexing, per article (ES CPU ms, wall ms):")
    for label, figures in result["analysis"].items():
        lines.append(f"  {label:26} {figures['es_cpu_ms']:6.2f} {figures['wall_ms']:7.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=300_000)
    parser.add_argument("--batches", type=int, default=7, help="measured batches per size")
    parser.add_argument("--batch", type=int, default=200, help="articles per batch")
    parser.add_argument("--analysis-articles", type=int, default=2000)
    parser.add_argument("--analysis-only", action="store_true", help="skip the growth part")
    parser.add_argument("--storage-articles", type=int, default=0, help="store size of so many")
    parser.add_argument("--body-chars", type=int, default=4800, help="their body length")
    parser.add_argument("--es-port", type=int, default=9219)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure here")
    args = parser.parse_args()
    result = run(args)
    print(report(result, args.small, args.large))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
