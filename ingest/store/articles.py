"""Elasticsearch: templates, known-id lookup, bulk indexing, feed state and run reports.

Everything mediamon remembers lives in Elasticsearch, so workers stay stateless. The index
templates are the JSON files in `mappings/`; this module loads them, fills in the index
prefix and installs them. Functions take the client and the `IndexNames` as arguments.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from elastic_transport import ApiResponseMeta, HttpHeaders, Urllib3HttpNode
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport._node._base import NodeApiResponse
from elasticsearch import ApiError, BadRequestError, Elasticsearch, helpers
from elasticsearch.helpers import scan
from elasticsearch.serializer import OrjsonSerializer

from ingest.config import REPOSITORY, RolloverLimits, Settings
from ingest.errors import StoreError
from ingest.models import Article, FeedState, RunReport, SiteLanguages
from ingest.store.boundary import BoundaryElasticsearch, item_is_transient, without_backoff
from ingest.store.language_fields import groups_of_mapping, language_fields

# What the other packages need of the client library, so that only store/ imports it: the
# client's type (every client is made by `connect`), `scan`, and the errors of a request
# Elasticsearch refused (the boundary raises the cluster's own condition as `StoreError`).
Client = Elasticsearch

MAPPINGS_DIR = REPOSITORY / "mappings"
TEMPLATES = ("articles", "feeds", "runs", "rules", "alerts", "revisions", "dead_letters")


@dataclass(frozen=True)
class IndexNames:
    """Index and alias names under one prefix (tests use a prefix of their own)."""

    prefix: str = "mediamon"

    @property
    def articles(self) -> str:
        """The read alias over every article index: search and look-ups go here."""
        return f"{self.prefix}-articles"

    @property
    def articles_write(self) -> str:
        """The write alias: new articles go to the one backing index it writes to, until
        `roll_over_articles` starts the next."""
        return f"{self.prefix}-articles-write"

    @property
    def first_article_index(self) -> str:
        """The first backing index; rollover numbers the next ones -000002, -000003..."""
        return f"{self.prefix}-articles-000001"

    @property
    def feeds(self) -> str:
        return f"{self.prefix}-feeds"

    @property
    def runs(self) -> str:
        return f"{self.prefix}-runs"

    @property
    def rules(self) -> str:
        """Alert rules as percolator queries (the index maps the article fields too)."""
        return f"{self.prefix}-rules"

    @property
    def alerts(self) -> str:
        """One document per (rule, article) match, with its notification state."""
        return f"{self.prefix}-alerts"

    @property
    def revisions(self) -> str:
        """Earlier versions of edited articles, one document each (ingest.revisions)."""
        return f"{self.prefix}-revisions"

    @property
    def dead_letters(self) -> str:
        """Articles Elasticsearch refused with a 4xx, one document each (`dead_letter`)."""
        return f"{self.prefix}-dead-letters"


class Es7CompatNode(Urllib3HttpNode):
    """Lets the 8.x client talk to the embedded Elasticsearch 7.10 (see `ingest.embedded`).

    The 8.x client sends `compatible-with=8` media types, which 7.10 rejects, and refuses a
    server without the `X-Elastic-Product` header, which 7.10 predates. Only used after the
    server said it is 7.x; 8.x and 9.x clusters get the stock node.
    """

    def perform_request(  # type: ignore[override]
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        **kwargs: Any,
    ) -> NodeApiResponse:
        plain = HttpHeaders(headers or {})
        for name in ("accept", "content-type"):
            if name in plain and "vnd.elasticsearch+" in plain[name]:
                plain[name] = plain[name].split(";")[0].replace("vnd.elasticsearch+", "")
        response = super().perform_request(method, target, body=body, headers=plain, **kwargs)
        response_headers = HttpHeaders(response.meta.headers)
        response_headers["x-elastic-product"] = "Elasticsearch"
        meta = ApiResponseMeta(
            status=response.meta.status,
            http_version=response.meta.http_version,
            headers=response_headers,
            duration=response.meta.duration,
            node=response.meta.node,
        )
        return NodeApiResponse(meta, response.body)


def connect(settings: Settings) -> Elasticsearch:
    """A client for `settings.es_url`, credentials from settings (never logged), whose every
    call goes through the one error boundary (`ingest.store.boundary`)."""
    options: dict[str, Any] = {"request_timeout": 30, "retry_on_timeout": True, "max_retries": 3}
    # Bulk bodies and their answers are most of what a run sends and reads: orjson encodes
    # and decodes them several times faster than the standard library (the client's own).
    options["serializer"] = OrjsonSerializer()
    if settings.es_api_key:
        options["api_key"] = settings.es_api_key
    elif settings.es_username and settings.es_password:
        options["basic_auth"] = (settings.es_username, settings.es_password)
    probe = BoundaryElasticsearch(settings.es_url, **options)
    try:
        # The transport skips the client's product check, so this works on 7.x too.
        root = probe.transport.perform_request("GET", "/", headers={"accept": "application/json"})
    except TransportConnectionError as exc:
        raise StoreError(
            f"Elasticsearch is not reachable at {settings.es_url}: {exc}",
            transient=True,
            reason="es:connection",
        ) from None
    finally:
        probe.close()
    version = str(root.body.get("version", {}).get("number", "0"))
    if version.startswith("7."):
        options["node_class"] = Es7CompatNode
    return BoundaryElasticsearch(settings.es_url, **options)


def load_template(name: str, names: IndexNames) -> dict[str, Any]:
    """The index template `mappings/<name>.json` with the prefix filled in."""
    template: dict[str, Any] = json.loads((MAPPINGS_DIR / f"{name}.json").read_text())
    template["index_patterns"] = [
        p.replace("{prefix}", names.prefix) for p in template["index_patterns"]
    ]
    aliases = template["template"].get("aliases", {})
    template["template"]["aliases"] = {
        k.replace("{prefix}", names.prefix): v for k, v in aliases.items()
    }
    base = template.get("_meta", {}).get("include_fields_of")
    if base:
        _include_fields(template, load_template(base, names))
    return template


@functools.cache
def article_groups() -> tuple[str, ...]:
    """The language groups of the article mapping (`ingest.store.language_fields`)."""
    properties = load_template("articles", IndexNames())["template"]["mappings"]["properties"]
    return tuple(groups_of_mapping(properties))


def article_document(article: Article) -> dict[str, Any]:
    """The `_source` of an article: its fields, and its text again under its language's
    analyzer (`text.<group>`, see `ingest.store.language_fields`). Indexed and percolated alike."""
    document = article.to_document()
    document["text"] = language_fields(document, article_groups())
    return document


def _include_fields(template: dict[str, Any], base: dict[str, Any]) -> None:
    """Add `base`'s field mapping and analyzers to `template` (rules.json takes the article
    fields from articles.json this way, so they are written down once)."""
    properties = template["template"]["mappings"]["properties"]
    clash = set(properties) & set(base["template"]["mappings"]["properties"])
    if clash:
        raise StoreError(f"template fields {sorted(clash)} are also in the included template")
    properties.update(base["template"]["mappings"]["properties"])
    analysis = base["template"].get("settings", {}).get("analysis")
    if analysis:
        template["template"].setdefault("settings", {})["analysis"] = analysis


LEGACY_GROUPS = (
    *("cjk", "cs", "da", "de", "en", "es", "fi", "fr", "it", "nl", "no", "pt", "ru", "sv", "tr"),
    "neutral",
)
# Mapping versions 1-3 kept articles in one index per publication month (and, from version
# 3, per language group), under templates of these names; `mediamon migrate` moves them.
_LEGACY_ARTICLE_TEMPLATES = ("articles", *(f"articles-{group}" for group in LEGACY_GROUPS))


def install_templates(
    es: Elasticsearch, names: IndexNames, templates: Iterable[str] = TEMPLATES
) -> list[str]:
    """Install (or upgrade) the index templates and create the fixed-name indices and the
    first article index behind the write alias. Idempotent."""
    installed = []
    for name in templates:
        if name == "articles":
            # The legacy templates' patterns overlap this one's at the same priority.
            for legacy in _LEGACY_ARTICLE_TEMPLATES:
                es.options(ignore_status=404).indices.delete_index_template(
                    name=f"{names.prefix}-{legacy}"
                )
        body = load_template(name, names)
        es.indices.put_index_template(name=f"{names.prefix}-{name}", **body)
        _add_new_fields(es, body)
        installed.append(f"{names.prefix}-{name}")
    for index in (
        names.feeds,
        names.runs,
        names.rules,
        names.alerts,
        names.revisions,
        names.dead_letters,
    ):
        if not es.indices.exists(index=index):
            es.options(ignore_status=400).indices.create(index=index)  # 400: created meanwhile
    if "articles" in templates:
        ensure_write_index(es, names)
    return installed


def ensure_write_index(es: Elasticsearch, names: IndexNames) -> None:
    """Create the first backing index with the write alias, unless the alias exists."""
    if es.indices.exists_alias(name=names.articles_write):
        return
    # 400: another worker created it meanwhile (the read alias comes from the template).
    es.options(ignore_status=400).indices.create(
        index=names.first_article_index,
        aliases={names.articles_write: {"is_write_index": True}},
    )


def _add_new_fields(es: Elasticsearch, template: dict[str, Any]) -> None:
    """Give indices the template created earlier the fields added to it since.

    A template applies to new indices only, and the indices are `dynamic: strict`: without
    this, the current month's index would refuse articles carrying a new field. Mappings
    only grow (fields are added, never renamed), so this is safe to repeat.
    """
    properties = template["template"]["mappings"]["properties"]
    for pattern in template["index_patterns"]:
        es.options(ignore_status=404).indices.put_mapping(
            index=pattern, properties=properties, allow_no_indices=True
        )


def backing_indices(es: Elasticsearch, names: IndexNames) -> list[str]:
    """The article indices behind the write alias, oldest first: the write index is last."""
    response = es.options(ignore_status=404).indices.get_alias(name=names.articles_write)
    return sorted(response.body) if response.meta.status == 200 else []


def find_known(es: Elasticsearch, names: IndexNames, ids: list[str]) -> dict[str, str]:
    """Which of `ids` are indexed already, in any backing index, mapped to the index
    holding each (the oldest, should a race have left two copies for a moment)."""
    if not ids:
        return {}
    holders = find_known_everywhere(es, names, ids)
    return {doc_id: min(indices) for doc_id, indices in holders.items()}


def roll_over_articles(es: Elasticsearch, names: IndexNames, limits: RolloverLimits) -> str | None:
    """Start the next article index if the write index meets one of `limits`; return the
    new index's name, or None when nothing was due.

    The embedded 7.10 node has neither ILM nor data streams, so the pipeline asks before each
    batch and the maintenance DAG daily; the request is cheap when nothing is due. Two
    workers asking at once may both roll over: that only makes an index with no articles.
    """
    ensure_write_index(es, names)
    # Never urgent: if the cluster is busy, the next batch asks again (no backoff here).
    response = without_backoff(es).indices.rollover(
        alias=names.articles_write, conditions=limits.conditions()
    )
    if response.get("rolled_over"):
        # the index that was written to takes no more new articles: searchable now, so that
        # look-ups need not ask it in real time for long
        es.options(ignore_status=404).indices.refresh(index=str(response["old_index"]))
    return str(response["new_index"]) if response.get("rolled_over") else None


def find_known_everywhere(
    es: Elasticsearch, names: IndexNames, ids: list[str], *, realtime_below: str | None = None
) -> dict[str, set[str]]:
    """Every backing index holding each of `ids` (a search, and `mget` in real time on the
    newest two, or only on those of them older than `realtime_below`).

    A search sees what was refreshed; the newest two backing indices are also asked in real
    time (`mget`), as articles written there in the last seconds are not searchable yet:
    the write index, and the one before it should a rollover just have happened. A caller
    that has just written `ids` into `realtime_below` knows they are there, and a real-time
    get of a document not yet refreshed makes Elasticsearch refresh the whole shard.
    """
    holders: dict[str, set[str]] = {}
    if not ids:
        return holders
    response = es.options(ignore_status=404).search(
        index=names.articles, query={"ids": {"values": ids}}, source=False, size=len(ids) * 4
    )
    for hit in response.get("hits", {}).get("hits", []):
        holders.setdefault(hit["_id"], set()).add(hit["_index"])
    recent = backing_indices(es, names)[-2:]
    if realtime_below is not None:
        recent = [index for index in recent if index < realtime_below]
    if recent:
        docs = [{"_index": index, "_id": i} for i in ids for index in recent]
        for doc in es.mget(docs=docs, source=False)["docs"]:
            if doc.get("found"):
                holders.setdefault(doc["_id"], set()).add(doc["_index"])
    return holders


@dataclass(frozen=True)
class StoredArticle:
    """An indexed article: its id, the index holding it, and its `_source`."""

    id: str
    index: str
    source: dict[str, Any]


def find_article(es: Elasticsearch, names: IndexNames, ref: str) -> StoredArticle | None:
    """The article with this document id, or at this URL (as linked, or its canonical form)."""
    # Imported here, not with the module: courlan loaded before trafilatura makes trafilatura's
    # import raise urllib3's SOCKS DependencyWarning, an error under the tests' filters.
    from ingest.identity import canonical_url, lookup_ids

    ref = ref.strip()
    clauses: list[dict[str, Any]] = [{"ids": {"values": [ref]}}]
    if "://" in ref:
        canonical = canonical_url(ref)
        clauses += [
            {"ids": {"values": lookup_ids(canonical)}},  # any variant, old ids too
            {"term": {"url": ref}},
            {"term": {"canonical_url": canonical}},
        ]
    response = es.options(ignore_status=404).search(
        index=names.articles, query={"bool": {"should": clauses}}, size=1
    )
    hits = response.get("hits", {}).get("hits", [])
    return StoredArticle(hits[0]["_id"], hits[0]["_index"], hits[0]["_source"]) if hits else None


def site_languages(
    es: Elasticsearch,
    names: IndexNames,
    feeds: Collection[str],
    domains: Collection[str],
    since: datetime,
) -> SiteLanguages:
    """How many articles of each of `feeds` and `domains`, first seen since `since`, were
    tagged in each language from their own text (`language_source` "text", "text+..."):
    one search with two terms aggregations, for a whole batch.

    Articles whose language a hint chose are left out, so that a site's history says what
    its texts are, not what its feeds declare (nor what earlier guesses made of them)."""
    if not feeds and not domains:
        return SiteLanguages()
    by_language = {"languages": {"terms": {"field": "language", "size": 20}}}
    aggs: dict[str, Any] = {}
    for name, field_name, values in (("feeds", "feeds", feeds), ("domains", "domain", domains)):
        if values:
            terms = {"field": field_name, "include": sorted(values), "size": len(values)}
            aggs[name] = {"terms": terms, "aggs": by_language}
    of_these = [{"terms": {"feeds": sorted(feeds)}}, {"terms": {"domain": sorted(domains)}}]
    filters: list[dict[str, Any]] = [
        {"prefix": {"language_source": "text"}},
        {"range": {"first_seen_at": {"gte": since.isoformat()}}},
        {"bool": {"should": of_these}},  # no must: one of them at least
    ]
    response = es.options(ignore_status=404).search(
        index=names.articles,
        query={"bool": {"filter": filters, "must_not": [{"term": {"language": "und"}}]}},
        aggs=aggs,
        size=0,
    )
    found = response.get("aggregations", {})

    def counts(name: str) -> dict[str, dict[str, int]]:
        return {
            bucket["key"]: {b["key"]: b["doc_count"] for b in bucket["languages"]["buckets"]}
            for bucket in found.get(name, {}).get("buckets", [])
        }

    return SiteLanguages(by_feed=counts("feeds"), by_domain=counts("domains"))


# Adds the feed and bumps last_seen_at without fetching the page again; a no-op write when
# nothing changes, so re-runs do not rewrite documents.
_SEEN_AGAIN = """
boolean changed = false;
if (ctx._source.feeds == null) { ctx._source.feeds = new ArrayList(); }
for (f in params.feeds) {
  if (!ctx._source.feeds.contains(f)) { ctx._source.feeds.add(f); changed = true; }
}
if (ctx._source.last_seen_at == null || ctx._source.last_seen_at.compareTo(params.seen) < 0) {
  ctx._source.last_seen_at = params.seen; changed = true;
}
if (!changed) { ctx.op = 'noop'; }
"""


def mark_seen_again(
    es: Elasticsearch,
    known: Mapping[str, str],
    feeds_by_id: Mapping[str, list[str]],
    seen_at: datetime,
) -> Counter[str]:
    """Record that known articles were listed again (by these feeds, at `seen_at`)."""
    actions = (
        {
            "_op_type": "update",
            "_index": index,
            "_id": doc_id,
            "script": {
                "source": _SEEN_AGAIN,
                "params": {
                    "feeds": sorted(feeds_by_id.get(doc_id, [])),
                    "seen": seen_at.isoformat(),
                },
            },
        }
        for doc_id, index in known.items()
    )
    outcome = bulk_write(es, actions)
    return outcome.failures


# 4xx item statuses that do not mean "this document is refused": a conflict (counted apart),
# too many requests (retried), and a missing index that could not be created (the cluster's
# set-up is wrong, not the document: retried by the next run once that is fixed).
NOT_REJECTIONS = frozenset({404, 409, 429})


@dataclass(frozen=True)
class ItemError:
    """Why Elasticsearch did not write one bulk item: the item's status, error type, message.

    `rejected`: the item itself was refused with a 4xx (a mapping or parsing error...). The
    same document would be refused again, so retrying it is pointless. Not one of
    `NOT_REJECTIONS`, nor an item of a whole request refused (that says nothing of one item),
    nor an item refused for the cluster's condition (a block while a disk is full, a
    breaker: `es_boundary.item_is_transient`), which passes.
    """

    status: int
    type: str
    message: str
    rejected: bool = False


@dataclass
class BulkOutcome:
    """What a bulk write did: item counts by result, failures by reason, ids that failed,
    and the indices it wrote to."""

    created: int = 0
    conflicts: int = 0  # create-only write of an id that exists: another worker won the race
    failures: Counter[str] = field(default_factory=Counter)  # "index:<error type>" -> items
    failed_ids: dict[str, str] = field(default_factory=dict)  # id -> error message
    errors: dict[str, ItemError] = field(default_factory=dict)  # id -> status, type, message
    written: dict[str, str] = field(default_factory=dict)  # id -> index, of the items written
    # id -> the older index holding it, of articles whose new copy lost a rollover race
    race_winners: dict[str, str] = field(default_factory=dict)
    ok: int = 0  # items that succeeded, or failed with one of the statuses asked to ignore
    conflicted: set[str] = field(default_factory=set)  # ids of the 409s
    items: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> the item's result

    @property
    def rejected(self) -> dict[str, ItemError]:
        """The failed items refused with a 4xx: see `ItemError`."""
        return {doc_id: error for doc_id, error in self.errors.items() if error.rejected}


def bulk_index(es: Elasticsearch, names: IndexNames, articles: Iterable[Article]) -> BulkOutcome:
    """Create-only bulk write of new articles into the write index (`names.articles_write`).

    429s are retried with backoff by the helper; every other item-level error is counted
    under `index:<error type>` and returned, never ignored. The articles refused with a 4xx
    (`BulkOutcome.rejected`) are for `dead_letter`. An article another worker wrote into an
    older backing index meanwhile is counted as a conflict: see `_undo_rollover_races`.
    """
    actions = (
        {
            "_op_type": "create",
            "_index": names.articles_write,
            "_id": article.id,
            "_source": article_document(article),
        }
        for article in articles
    )
    outcome = bulk_write(es, actions)
    _undo_rollover_races(es, names, outcome)
    return outcome


def _undo_rollover_races(es: Elasticsearch, names: IndexNames, outcome: BulkOutcome) -> None:
    """Delete the copies this write made of articles that an older index holds already.

    Create-only writes keep one copy per index, not per alias: two workers that both looked
    up an article before either wrote it, on both sides of a rollover, write it into two
    backing indices. So after writing, each worker looks its new articles up again; the copy
    in the oldest index wins (both workers agree on that), the newer copy is deleted and
    counted as a conflict, as the same race within one index would be (a 409).
    """
    created = dict(outcome.written)
    if not created:
        return
    # Only older indices can hold a copy that wins: the newest one written to needs no
    # real-time ask (see find_known_everywhere), which is the usual case of no rollover.
    holders = find_known_everywhere(es, names, list(created), realtime_below=max(created.values()))
    losers = {
        doc_id: index
        for doc_id, index in created.items()
        if min(holders.get(doc_id, {index})) < index
    }
    if not losers:
        return
    deletes = (
        {"_op_type": "delete", "_index": index, "_id": doc_id} for doc_id, index in losers.items()
    )
    bulk_write(es, deletes)
    for doc_id in losers:
        del outcome.written[doc_id]
        outcome.race_winners[doc_id] = min(holders[doc_id])
    outcome.created -= len(losers)
    outcome.conflicts += len(losers)


def bulk_write(
    es: Elasticsearch,
    actions: Iterable[dict[str, Any]],
    *,
    label: str = "index",
    ok_statuses: Collection[int] = (),
) -> BulkOutcome:
    """The one bulk wrapper: any bulk actions (create-only writes, partial updates,
    deletes), every item's outcome counted, failures under `<label>:<error type>`.

    Items refused for a 429 are retried by the helper with backoff; a whole request the
    cluster is too busy for is retried by the client (`ingest.store.boundary`), which raises a
    transient `StoreError` if the cluster stays busy or goes away. Items that fail with
    one of `ok_statuses` (e.g. a 404 deleting what is gone) count as done.
    """
    outcome = BulkOutcome()
    for ok, item in helpers.streaming_bulk(
        es,
        iter(actions),
        chunk_size=500,
        max_retries=5,
        initial_backoff=1,
        max_backoff=30,
        raise_on_error=False,
        raise_on_exception=False,
    ):
        _, result = next(iter(item.items()))
        doc_id, status = str(result.get("_id")), int(result.get("status") or 0)
        outcome.items[doc_id] = result
        if ok or status in ok_statuses:
            outcome.ok += 1
            outcome.created += result.get("result") == "created"
            outcome.written[doc_id] = str(result.get("_index"))
        elif status == 409:
            outcome.conflicts += 1
            outcome.conflicted.add(doc_id)
        else:
            error = ItemError(
                status,
                _item_error_type(result),
                _item_error_message(result),
                # "exception": the helper's mark on items of a request refused whole
                rejected=400 <= status < 500
                and status not in NOT_REJECTIONS
                and "exception" not in result
                and not item_is_transient(status, result.get("error")),
            )
            outcome.failures[f"{label}:{error.type}"] += 1
            outcome.failed_ids[doc_id] = error.message
            outcome.errors[doc_id] = error
    return outcome


def _item_error_type(result: dict[str, Any]) -> str:
    error = result.get("error")
    if isinstance(error, dict):
        return str(error.get("type", "unknown"))
    return f"http_{result.get('status', 'unknown')}"


def _item_error_message(result: dict[str, Any]) -> str:
    error = result.get("error")
    if isinstance(error, dict):
        return f"{error.get('type')}: {error.get('reason')}"
    return str(error)


# A repeated refusal updates the article's dead letter: the latest error, run and document,
# one more attempt; first_failed_at stays.
_FAILED_AGAIN = """
ctx._source.putAll(params.latest);
ctx._source.attempts = (ctx._source.attempts ?: 0) + 1;
"""
_REASON_MAX = 4000  # characters of an error message kept in a dead letter


def dead_letter(
    es: Elasticsearch,
    names: IndexNames,
    rejected: Iterable[tuple[Article, ItemError]],
    run_id: str,
    now: datetime,
) -> BulkOutcome:
    """Keep the articles Elasticsearch refused (a 4xx, see `ItemError`) in the dead-letter
    index, with the error and the refused document, for a person to look at.

    The id is the article's: the same article refused again updates its one document
    (`attempts`, `last_failed_at`, the latest error). Returns the outcome of that write:
    its `failed_ids` are articles whose dead letter could not be written either.
    """
    actions = []
    for article, error in rejected:
        latest = {
            "article_id": article.id,
            "url": article.url,
            "canonical_url": article.canonical_url,
            "feeds": sorted(article.feeds),
            "target_index": names.articles_write,
            "status": error.status,
            "error_type": error.type,
            "reason": error.message[:_REASON_MAX],
            "run_id": run_id,
            "last_failed_at": now.isoformat(),
            "document": article_document(article),
        }
        actions.append(
            {
                "_op_type": "update",
                "_index": names.dead_letters,
                "_id": article.id,
                "script": {"source": _FAILED_AGAIN, "params": {"latest": latest}},
                "upsert": {**latest, "first_failed_at": now.isoformat(), "attempts": 1},
            }
        )
    return bulk_write(es, actions)


def clear_dead_letters(es: Elasticsearch, names: IndexNames, ids: Collection[str]) -> int:
    """Delete the dead letters of `ids`, articles indexed now (the cause of their refusal was
    fixed, e.g. the mapping); returns how many there were. One small search when there are
    none, the usual case."""
    if not ids:
        return 0
    response = es.options(ignore_status=404).search(
        index=names.dead_letters, query={"ids": {"values": list(ids)}}, source=False, size=len(ids)
    )
    found = [hit["_id"] for hit in response.get("hits", {}).get("hits", [])]
    if found:
        actions = ({"_op_type": "delete", "_index": names.dead_letters, "_id": i} for i in found)
        bulk_write(es, actions)
        es.indices.refresh(index=names.dead_letters)
    return len(found)


def dead_letters(
    es: Elasticsearch, names: IndexNames, limit: int = 20
) -> tuple[Counter[str], list[dict[str, Any]]]:
    """Dead letters by error type, and the latest `limit` (without the refused document)."""
    es.options(ignore_status=404).indices.refresh(index=names.dead_letters)
    response = es.options(ignore_status=404).search(
        index=names.dead_letters,
        size=limit,
        sort=[{"last_failed_at": "desc"}],
        source_excludes=["document"],
        aggs={"types": {"terms": {"field": "error_type", "size": 100}}},
    )
    buckets = response.get("aggregations", {}).get("types", {}).get("buckets", [])
    by_type = Counter({b["key"]: b["doc_count"] for b in buckets})
    return by_type, [hit["_source"] for hit in response.get("hits", {}).get("hits", [])]


def load_feed_states(
    es: Elasticsearch, names: IndexNames, feed_names: list[str]
) -> dict[str, FeedState]:
    """The stored state of these feeds (missing ones are simply absent)."""
    if not feed_names:
        return {}
    response = es.mget(index=names.feeds, ids=feed_names)
    return {
        doc["_id"]: FeedState.from_document(doc["_source"])
        for doc in response["docs"]
        if doc.get("found")
    }


def claim_feeds(
    es: Elasticsearch,
    names: IndexNames,
    feeds: Mapping[str, str],
    owner: str,
    until: datetime,
    now: datetime,
) -> set[str]:
    """Take a lease until `until` on each of `feeds` (name -> URL) that no other run holds
    a lease on; return the names taken. A lease of `owner`'s own (an Airflow task retried
    under the same batch run id) is taken over.

    The lease is in the feed's state document (`lease_owner`, `lease_until`), written with
    optimistic concurrency: of two runs claiming a feed at once, one write wins and the other
    gets a 409. One request per feed, not a bulk: a run claims its feeds once. The lease ends
    when the run saves the feed's state (`save_feed_states` writes the document without it)
    or gives it back (`release_feeds`), or when it runs out unrenewed (`renew_feeds`): a run
    that died."""
    if not feeds:
        return set()
    lease = {"lease_owner": owner, "lease_until": until.isoformat()}
    writes = es.options(ignore_status=409)  # 409: another run's claim won
    claimed: set[str] = set()
    for doc in es.mget(index=names.feeds, ids=list(feeds))["docs"]:
        name = doc["_id"]
        if not doc.get("found"):  # never polled: the first claim creates its document
            answer = writes.create(
                index=names.feeds, id=name, document={"name": name, "url": feeds[name], **lease}
            )
        else:
            held_until = doc["_source"].get("lease_until")
            held_by = doc["_source"].get("lease_owner")
            if held_until and held_by != owner and datetime.fromisoformat(held_until) > now:
                continue  # another run is polling it
            answer = writes.update(
                index=names.feeds, id=name, doc=lease,
                if_seq_no=doc["_seq_no"], if_primary_term=doc["_primary_term"],
            )  # fmt: skip
        if answer.meta.status < 300:
            claimed.add(name)
    return claimed


# Renew or release a lease only where `owner` still holds it.
_RENEW = """
if (ctx._source.lease_owner == params.owner) { ctx._source.lease_until = params.until; }
else { ctx.op = 'noop'; }
"""
_RELEASE = """
if (ctx._source.lease_owner == params.owner) {
  ctx._source.remove('lease_owner'); ctx._source.remove('lease_until');
} else { ctx.op = 'noop'; }
"""


def renew_feeds(es: Elasticsearch, names: IndexNames, owner: str, until: datetime) -> None:
    """Move every lease `owner` holds on to `until` (one update-by-query; a lease is seconds
    old, so searchable, by the first renewal)."""
    es.update_by_query(
        index=names.feeds,
        query={"term": {"lease_owner": owner}},
        script={"source": _RENEW, "params": {"owner": owner, "until": until.isoformat()}},
        conflicts="proceed",
    )


def release_feeds(
    es: Elasticsearch, names: IndexNames, feed_names: Iterable[str], owner: str
) -> None:
    """Give back `owner`'s leases on these feeds: a run that stops before saving their state
    (one update per feed: its claims may not be searchable yet)."""
    for name in feed_names:
        es.options(ignore_status=404).update(
            index=names.feeds,
            id=name,
            script={"source": _RELEASE, "params": {"owner": owner}},
            retry_on_conflict=3,
        )


def save_feed_states(es: Elasticsearch, names: IndexNames, states: Iterable[FeedState]) -> None:
    actions = (
        {
            "_op_type": "index",
            "_index": names.feeds,
            "_id": state.name,
            "_source": state.to_document(),
        }
        for state in states
    )
    outcome = bulk_write(es, actions)
    if outcome.failures:
        raise StoreError(
            f"could not save feed state: {dict(outcome.failures)} {outcome.failed_ids}"
        )


def save_run_report(es: Elasticsearch, names: IndexNames, report: RunReport) -> None:
    try:
        es.index(index=names.runs, id=report.run_id, document=report.to_document())
    except ApiError as exc:
        raise StoreError(f"could not store run report {report.run_id}: {exc}") from None


def refresh(es: Elasticsearch, names: IndexNames) -> None:
    """Make recent writes searchable (tests and the demo; runs do not need it)."""
    es.options(ignore_status=404).indices.refresh(index=f"{names.prefix}-*")


def delete_all(es: Elasticsearch, names: IndexNames) -> None:
    """Remove every index and template under this prefix (tests clean up with it)."""
    es.options(ignore_status=404).indices.delete(index=f"{names.prefix}-*", expand_wildcards="all")
    for name in TEMPLATES:
        es.options(ignore_status=404).indices.delete_index_template(name=f"{names.prefix}-{name}")
