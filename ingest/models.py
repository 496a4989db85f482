"""Typed records passed between the pipeline stages.

Each stage takes and returns these plain records; none of them holds a client or does I/O.
`Article.to_document()` is the Elasticsearch document (the contract in DESIGN.md).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar


@dataclass(frozen=True)
class Feed:
    """One feed from the feeds file."""

    name: str
    url: str
    language: str | None = None  # declared language: a hint for short texts
    source: str | None = None  # publisher name shown in search results
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeedEntry:
    """One item of a polled feed, before its page is fetched."""

    feed_name: str
    url: str  # as linked, made absolute against the feed URL
    title: str = ""
    summary: str = ""
    published_at: datetime | None = None
    guid: str | None = None
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    language: str | None = None  # declared by the feed config or the feed itself
    # Who declared `language`: "configured" (the feeds file) or "feed" (its <language>).
    language_declared_by: str | None = None
    source: str | None = None  # from the feed config, else the feed's own title
    # An item without a usable link (`url` is ""): why (`entry:no_link`, `entry:bad_scheme`
    # ...), and what identifies it instead: its feed's URL and its guid, else its title and
    # date. It is kept as a feed-only article (`identity.entry_id`), not dropped.
    link_problem: str | None = None
    identity: str | None = None
    feed_url: str = ""  # the feed document's URL (after redirects)

    @property
    def declared_language(self) -> LanguageHint | None:
        """The language the feeds file or the feed declares for this entry, and which."""
        if not self.language:
            return None
        return LanguageHint(self.language, self.language_declared_by or "feed")


@dataclass(frozen=True)
class Page:
    """A fetched HTML page."""

    url: str  # what was asked for
    final_url: str  # after redirects
    status: int
    html: str
    content_type: str
    fetched_at: datetime


@dataclass(frozen=True)
class Extraction:
    """What `extract.extract_page` finds in a page (empty strings where nothing was found)."""

    title: str = ""
    body: str = ""
    authors: tuple[str, ...] = ()
    site_name: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    published_at: datetime | None = None
    date_source: str = ""  # "page" when the page states it
    date_precision: str = ""  # ingest.extract.dates: "day", "time" (no zone) or "zoned"
    html_lang: str | None = None  # <html lang>, normalised to ISO 639-1 where possible
    canonical_link: str = ""  # <link rel="canonical">, absolute; ingest.identity judges it
    truncated: bool = False  # the body was cut at extract.MAX_BODY_CHARS
    method: str = ""  # the extraction pass that found the body (extract.EXTRACTION_PASSES)
    # The body's near-duplicate fingerprint (ingest.stories), added by extract.pool.analyse_page
    # in the extraction worker, where the CPU work belongs; None for a body too short.
    minhash: str | None = None
    lsh_bands: tuple[str, ...] = ()


@dataclass(frozen=True)
class LanguageHint:
    """A language that a text's context declares, and who declared it."""

    code: str
    source: str  # "configured" (feeds file), "feed" (its <language>), "page" (<html lang>)


@dataclass(frozen=True)
class LanguageTag:
    """Result of language tagging; `source` says what decided it (`ingest.extract.language`)."""

    code: str  # ISO 639-1, or "und" when undetermined
    confidence: float  # what the text alone says of `code`: never raised by a hint
    # "text"; a hint's source ("configured", "feed", "page", "site") when it chose for a
    # short or unsure text; "text+<hint>" when they agree; "none" (no text, no hint)
    source: str
    declared: str | None = None  # the declared language, if any
    disagrees: bool = False  # text and declaration disagree


@dataclass(frozen=True)
class SiteLanguages:
    """How many recent articles of each feed and of each site (domain) were tagged in each
    language from their own text: the "site's other articles" hint for short texts."""

    by_feed: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    by_domain: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def of(self, feeds: Iterable[str], domain: str, enough: int) -> dict[str, int]:
        """The language counts of an article's feeds, or of its site when its feeds have
        fewer than `enough` articles (a new feed of a known site); {} when neither has."""
        counts: Counter[str] = Counter()
        for name in feeds:
            counts.update(self.by_feed.get(name, {}))
        if counts.total() >= enough:
            return dict(counts)
        site = dict(self.by_domain.get(domain, {}))
        return site if sum(site.values()) >= enough else {}


@dataclass
class Article:
    """One article document. Field names are the Elasticsearch contract (DESIGN.md)."""

    id: str
    url: str
    canonical_url: str
    domain: str
    source: str
    feeds: list[str]
    title: str
    summary: str
    body: str
    language: str
    language_confidence: float
    language_source: str
    published_at: datetime
    date_source: str  # "page", "feed" or "first_seen"
    first_seen_at: datetime
    last_seen_at: datetime
    fetched_at: datetime | None
    extraction_status: str  # "ok" or "feed_only"
    extraction_reason: str | None = None
    body_truncated: bool = False  # cut at extract.MAX_BODY_CHARS
    extraction_method: str | None = None  # the extraction pass that found the body
    authors: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    content_hash: str | None = None
    story_id: str | None = None
    duplicate_of: str | None = None
    rules: list[str] = field(default_factory=list)
    # True from the article's own write until an alert exists for each of its `rules`
    # (ingest.alerts.record_missing_alerts finds the ones a failed or cut-off write left).
    alerts_pending: bool = False
    word_count: int = 0
    # Near-duplicates (ingest.stories): the body's LSH band keys and MinHash signature, how
    # close a copy is to the article it copies, and on the first article of a story (its
    # root) how many articles and which outlets carried it. None on the other members.
    lsh_bands: list[str] = field(default_factory=list)
    minhash: str | None = None
    duplicate_similarity: float | None = None
    story_size: int | None = None
    story_sources: list[str] = field(default_factory=list)
    # Edits (ingest.revisions): the re-fetch checks done so far and what they found.
    revised_at: datetime | None = None
    revision_count: int = 0
    refetch_stages: list[str] = field(default_factory=list)
    last_checked_at: datetime | None = None
    last_check_status: str | None = None

    def to_document(self) -> dict[str, Any]:
        """The `_source` indexed in Elasticsearch."""
        doc: dict[str, Any] = {
            "url": self.url,
            "canonical_url": self.canonical_url,
            "domain": self.domain,
            "source": self.source,
            "feeds": sorted(set(self.feeds)),
            "title": self.title,
            "summary": self.summary,
            "body": self.body,
            "authors": self.authors,
            "tags": self.tags,
            "language": self.language,
            "language_confidence": round(self.language_confidence, 4),
            "language_source": self.language_source,
            "published_at": _iso(self.published_at),
            "date_source": self.date_source,
            "first_seen_at": _iso(self.first_seen_at),
            "last_seen_at": _iso(self.last_seen_at),
            "fetched_at": _iso(self.fetched_at) if self.fetched_at else None,
            "extraction": {
                "status": self.extraction_status,
                "reason": self.extraction_reason,
                "truncated": self.body_truncated,
                "method": self.extraction_method,
            },
            "content_hash": self.content_hash,
            "story_id": self.story_id,
            "duplicate_of": self.duplicate_of,
            "rules": self.rules,
            "alerts_pending": self.alerts_pending,
            "word_count": self.word_count,
            "lsh_bands": self.lsh_bands,
            "minhash": self.minhash,
            "duplicate_similarity": self.duplicate_similarity,
            "story_size": self.story_size,
            "story_sources": sorted(set(self.story_sources)),
            "story_outlets": len(set(self.story_sources)) if self.story_size else None,
            "revised_at": _iso(self.revised_at) if self.revised_at else None,
            "revision_count": self.revision_count,
            "refetch_stages": self.refetch_stages,
            "last_checked_at": _iso(self.last_checked_at) if self.last_checked_at else None,
            "last_check_status": self.last_check_status,
        }
        return doc


@dataclass
class AlertHit:
    """One alert: a (rule, story) match, a (rule, article) match, or a rule's volume spike
    on one day.

    Stored in `mediamon-alerts` under `id`, a hash of (rule, subject): the subject is
    "story:<story_id>" for a rule alerting per story (the default), the article id for one
    alerting `per: article`, "spike:YYYY-MM-DD" for a spike. The same match found again (a
    retry, a re-run, a second feed, another copy of the story) lands on the same id and is
    never alerted twice. `article` is the first matching article; `story` counts the copies
    added since (`ingest.alerts`). `targets` are the notify targets still to deliver to;
    each delivery's own state is in `deliveries` (keyed by target), the summary in `status`.
    """

    rule_id: str
    rule_name: str
    subject: str  # "story:<story id>", the article id (per: article), or "spike:YYYY-MM-DD"
    kind: str  # "match" or "spike"
    created_at: datetime
    run_id: str
    targets: list[str]
    rule_tags: list[str] = field(default_factory=list)
    article: dict[str, Any] = field(default_factory=dict)  # title, url, source, language, ...
    per: str = "article"  # "story" or "article": what one alert of the rule stands for
    article_id: str | None = None  # the first matching article (kind "match")
    story_id: str | None = None  # its story, as assigned when the alert was raised
    # per story: articles, outlets, sources, article_ids, latest (the newest copy added)
    story: dict[str, Any] | None = None
    spike: dict[str, Any] | None = None  # last_day, daily_mean, factor, min_count, day, why
    status: str = "pending"  # pending, sent, failed
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    deliveries: dict[str, dict[str, Any]] = field(default_factory=dict)
    lease_owner: str | None = None  # a run delivering it now, until lease_until
    lease_until: datetime | None = None

    @property
    def id(self) -> str:
        return alert_id(self.rule_id, self.subject)

    def __post_init__(self) -> None:
        if self.kind == "match" and self.article_id is None and self.per == "article":
            self.article_id = self.subject

    @property
    def outlets(self) -> int:
        """How many outlets carried the story so far (1 for an article alert)."""
        return int((self.story or {}).get("outlets") or 1)

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            doc[key] = _iso(value) if isinstance(value, datetime) else value
        doc["alert_id"] = self.id
        return doc

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> AlertHit:
        values = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        for key in ("created_at", "sent_at", "lease_until"):
            if values.get(key):
                values[key] = datetime.fromisoformat(values[key])
        return cls(**values)


def alert_id(rule_id: str, subject: str) -> str:
    """The deterministic document id of the alert for `rule_id` about `subject`."""
    return hashlib.sha256(f"{rule_id}\x00{subject}".encode()).hexdigest()[:40]


def story_subject(story_id: str) -> str:
    """The subject of the one alert of a rule about a story (`AlertHit.subject`)."""
    return f"story:{story_id}"


@dataclass
class RunReport:
    """Counts of one run, printed at the end and stored in `mediamon-runs`.

    `failures` counts every skipped or degraded item by reason. Every entry a feed listed
    ends up in exactly one of `ENTRY_OUTCOMES` or is skipped with a reason "entry:*", so
    `counts["entries.seen"] == accounted_entries()` holds for every run.
    """

    ENTRY_OUTCOMES: ClassVar[tuple[str, ...]] = (
        "entries.merged",  # the same article listed again (another feed, tracking params)
        "entries.known",  # indexed by an earlier run
        "articles.new",  # indexed now
        "entries.deferred",  # page failed transiently: not indexed, tried again next run
        "entries.dead_lettered",  # refused by Elasticsearch with a 4xx: in the dead letters
        "entries.index_failed",  # not written for another reason: tried again next run
        "entries.interrupted",  # not fetched when SIGINT/SIGTERM stopped the run: next run
    )

    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    counts: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    by_language: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # a sample of messages, for humans
    status: str = "completed"  # or "interrupted": stopped early by a signal (ingest.interrupt)
    interrupted_by: str | None = None  # SIGINT, SIGTERM

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] += n

    def accounted_entries(self) -> int:
        """The entries of this run that ended in an outcome or were skipped with a reason."""
        skipped = sum(n for reason, n in self.failures.items() if reason.startswith("entry:"))
        return sum(self.counts[key] for key in self.ENTRY_OUTCOMES) + skipped

    def fail(self, reason: str, message: str | None = None, n: int = 1) -> None:
        self.failures[reason] += n
        if message and len(self.errors) < 50:
            self.errors.append(message)

    def merge(self, other: RunReport) -> None:
        """Add another report's counts (a batch's) into this one."""
        self.counts.update(other.counts)
        self.failures.update(other.failures)
        self.by_language.update(other.by_language)
        self.by_source.update(other.by_source)
        self.errors.extend(other.errors[: max(0, 50 - len(self.errors))])

    def to_document(self) -> dict[str, Any]:
        duration = (
            (self.finished_at - self.started_at).total_seconds() if self.finished_at else None
        )
        return {
            "run_id": self.run_id,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at) if self.finished_at else None,
            "duration_seconds": duration,
            "counts": dict(self.counts),
            "failures": dict(self.failures),
            "failure_reasons": sorted(self.failures),
            "failures_total": sum(self.failures.values()),
            "by_language": dict(self.by_language),
            "by_source": dict(self.by_source),
            "errors": self.errors,
            "status": self.status,
            "interrupted_by": self.interrupted_by,
        }


def _iso(value: datetime) -> str:
    return value.isoformat()


@dataclass
class FeedState:
    """What mediamon remembers about a feed between polls (stored in `mediamon-feeds`)."""

    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    last_polled_at: datetime | None = None
    last_status: str | None = None  # ok, not_modified, malformed, failed
    last_reason: str | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    entries_last_poll: int = 0
    new_entries_last_poll: int = 0
    last_new_entry_at: datetime | None = None
    next_poll_after: datetime | None = None  # after a failure: backing off until then
    polls: int = 0
    not_modified: int = 0  # polls answered 304
    # Polls answered 200 that brought no new entry; `identical` of them had the same bytes
    # as the poll before (the server ignored the conditional GET). `changed`: new entries.
    unchanged: int = 0
    identical: int = 0
    changed: int = 0
    content_hash: str | None = None  # of the last document (ingest.feeds.polling.body_hash)
    entry_keys: list[str] = field(default_factory=list)  # its entries' ingest.feeds.polling keys
    # Article id -> transient page failures so far, of entries whose pages are being retried
    # (ingest.feeds.state.PAGE_ATTEMPTS).
    page_retries: dict[str, int] = field(default_factory=dict)
    poll_interval: int | None = None  # seconds: the adaptive interval (ingest.feeds.polling)
    declared_interval: int | None = None  # seconds: what the feed declares (ttl, sy:)
    poll_due_at: datetime | None = None  # when its schedule wants the next poll

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            doc[key] = _iso(value) if isinstance(value, datetime) else value
        return doc

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> FeedState:
        values = dict(doc)
        for key in ("last_polled_at", "last_new_entry_at", "next_poll_after", "poll_due_at"):
            if values.get(key):
                values[key] = datetime.fromisoformat(values[key])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})
