"""Alert documents: a batch's matches recorded as alerts, and the alerts a crash left out.

    matches of a batch ─▶ bulk index (with `alerts_pending` on matched articles)
      ─▶ record_hits (one alert per rule and story, or per article; deterministic ids: a
         match alerts once, ever; a later copy joins its story's alert) ─▶ clear `alerts_pending`
    start of a run, and the maintenance DAG ─▶ record_missing_alerts (articles still marked)

A rule alerts once per story by default (`per: story`): the alert's id is a hash of the
rule and the story (`story_id`, assigned before percolation by `ingest.stories`; stories are
never merged afterwards, so every later copy names the one the first match named). The
batch's matching copies are written as one scripted upsert per alert: it creates the alert
with them, or adds those it does not hold yet (outlets, count, latest copy; the article ids
it holds make a retry, a re-run or a recovered alert a no-op) without touching the delivery
state (`ingest.alerts.delivery`), so a copy never notifies. A rule with `per: article` keeps
one document per (rule, article), written with op_type=create: a retry, a re-run or the same
article from a second feed hits a 409 and alerts nobody.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ingest import store
from ingest.alerts.explanation import ARTICLE_FIELDS
from ingest.alerts.percolate import Matches
from ingest.alerts.rules import Rule
from ingest.alerts.sync import stored_rules
from ingest.models import AlertHit, Article, RunReport, story_subject
from ingest.store import IndexNames

PENDING_ARTICLES_PAGE = 100  # with their bodies (up to 200,000 characters each)
SUMMARY_CHARS = 300
# A story alert keeps this many of its articles' ids (to add each copy once); a copy beyond
# them that is matched again (a re-run) may be counted twice.
STORY_IDS_KEPT = 5000


@dataclass
class HitOutcome:
    created: int = 0  # new alerts: these notify
    joined: int = 0  # story alerts that gained copies (another outlet, a later run): silent
    existing: int = 0  # already there with these articles: a retry, a re-run, another feed
    failures: Counter[str] = field(default_factory=Counter)
    existing_ids: set[str] = field(default_factory=set)
    # Articles with an alert for each of their rules now: their `alerts_pending` is cleared.
    settled: set[str] = field(default_factory=set)
    unsettled: set[str] = field(default_factory=set)  # left pending: the next run tries again


def record_hits(
    es: store.Client,
    names: IndexNames,
    articles: Iterable[Article],
    matches: Matches,
    run_id: str,
    now: datetime | None = None,
    written: Mapping[str, str] | None = None,
) -> HitOutcome:
    """One alert per (rule, story) match (per (rule, article) for `per: article` rules),
    created once; a later copy of the story joins its alert without notifying again.

    The articles were indexed with `alerts_pending: true`; those now settled are marked so
    (`written`: article id -> index, where the bulk write put them). An article whose alert
    could not be written stays pending, and `record_missing_alerts` writes it later.
    """
    now = now or datetime.now(UTC)
    hits: dict[str, list[AlertHit]] = {}
    for article in articles:
        rule_ids = matches.by_article.get(article.id)
        if rule_ids:  # only these were marked
            document = article.to_document()
            hits[article.id] = [
                _hit(matches.rules[rule_id], article.id, document, run_id, now)
                for rule_id in rule_ids
            ]
    outcome = write_alerts(es, names, hits, now)
    written = written or {}  # not those indexed meanwhile by another worker: its mark is its own
    _clear_pending(es, {i: written[i] for i in outcome.settled if i in written}, outcome)
    return outcome


def record_missing_alerts(
    es: store.Client,
    names: IndexNames,
    run_id: str,
    report: RunReport | None = None,
    now: datetime | None = None,
) -> HitOutcome:
    """Create the alerts of indexed articles still marked `alerts_pending`, exactly once.

    Such an article was written, with its matches in `rules`, by a run whose alert write
    then failed (a blocked or unavailable alerts index) or never happened (a crash between
    the two writes): whatever the order, the mark is set with the article and cleared only
    once every alert of it exists. Alert ids are deterministic (rule and story, or rule and
    article) and an alert keeps the ids of the articles it holds, so an alert written before
    a crash is found, not doubled, and a copy is added to its story's alert once. A rule
    deleted since alerts no one. Every run does this first; so does the maintenance DAG.
    Counts go to `report` as alerts.recovered (new alerts), alerts.joined and
    alerts.already_recorded, failures as `alerts:<reason>`.
    """
    now = now or datetime.now(UTC)
    total = HitOutcome()
    rules: dict[str, Rule] | None = None
    after: list[Any] | None = None
    while True:
        page = _pending_articles(es, names, after)
        if not page:
            break
        after = page[-1]["sort"]
        if rules is None:  # no rules index: every rule is gone, the marks are cleared
            synced = stored_rules(es, names) if es.indices.exists(index=names.rules) else []
            rules = {rule.id: rule for rule in synced}
        hits = {
            hit["_id"]: [
                _hit(rules[rule_id], hit["_id"], hit["_source"], run_id, now)
                for rule_id in hit["_source"].get("rules") or []
                if rule_id in rules
            ]
            for hit in page
        }
        outcome = write_alerts(es, names, hits, now)
        settled = {hit["_id"]: hit["_index"] for hit in page if hit["_id"] in outcome.settled}
        _clear_pending(es, settled, outcome)
        _add_outcome(total, outcome)
    if report is not None:
        report.count("alerts.recovered", total.created)
        if total.joined:
            report.count("alerts.joined", total.joined)
        report.count("alerts.already_recorded", total.existing)
        for reason, n in total.failures.items():
            report.fail(reason, n=n)
    return total


def _pending_articles(
    es: store.Client, names: IndexNames, after: list[Any] | None
) -> list[dict[str, Any]]:
    """A page of the articles marked `alerts_pending`, oldest first."""
    body: dict[str, Any] = {
        "query": {"term": {"alerts_pending": True}},
        "_source": [
            "rules",
            "story_id",
            "title",
            "url",
            "source",
            "domain",
            "language",
            "published_at",
            "summary",
            "body",
        ],
        "sort": [{"first_seen_at": "asc"}, {"url": "asc"}],
        "size": PENDING_ARTICLES_PAGE,
    }
    if after:
        body["search_after"] = after
    # A cluster away or busy raises a transient StoreError at the boundary (ingest.store.boundary).
    response = es.options(ignore_status=404).search(index=names.articles, **body)
    return list(response.get("hits", {}).get("hits", []))


def _hit(
    rule: Rule, article_id: str, article: Mapping[str, Any], run_id: str, now: datetime
) -> AlertHit:
    """The alert of `rule` about an article (its document, as indexed or to be indexed).

    Per story, the subject is the story the article had when it matched: stories are never
    merged afterwards (`ingest.stories`), so every later copy names the same story.
    """
    summary = " ".join((article.get("summary") or article.get("body") or "").split())
    story_id = str(article.get("story_id") or article_id)
    per_story = rule.per == "story"
    return AlertHit(
        rule_id=rule.id,
        rule_name=rule.title,
        subject=story_subject(story_id) if per_story else article_id,
        kind="match",
        created_at=now,
        run_id=run_id,
        targets=[target.key for target in rule.notify],
        rule_tags=list(rule.tags),
        article={
            "title": article.get("title", ""),
            "url": article.get("url", ""),
            "source": article.get("source", ""),
            "language": article.get("language", ""),
            "published_at": article.get("published_at"),
            "summary": summary[:SUMMARY_CHARS],
        },
        per=rule.per,
        article_id=article_id,
        story_id=story_id,
        story=_story_of([(article_id, _outlet(article), _copy(article))], now)
        if per_story
        else None,
    )


def _outlet(article: Mapping[str, Any]) -> str:
    return str(article.get("source") or article.get("domain") or "")


def _copy(article: Mapping[str, Any]) -> dict[str, Any]:
    """What a story alert shows of its newest copy."""
    return {key: article.get(key) for key in ARTICLE_FIELDS}


def _story_of(members: Sequence[tuple[str, str, dict[str, Any]]], now: datetime) -> dict[str, Any]:
    """A new story alert's counters: members are (article id, outlet, copy), in order."""
    sources = sorted({outlet for _, outlet, _ in members} - {""})
    return {
        "articles": len(members),
        "outlets": len(sources),
        "sources": sources,
        "article_ids": [doc_id for doc_id, _, _ in members][:STORY_IDS_KEPT],
        "latest": members[-1][2],
        "updated_at": now.isoformat(),
    }


# Adds a batch's copies to a story alert that exists: each article once (a retry, a re-run
# or a recovered alert adds nothing and the write is a no-op). Its delivery state is left
# alone, so a copy that arrives after the alert was sent notifies nobody.
_JOIN_ALERT = """
def story = ctx._source.story;
if (story == null) { ctx.op = 'none'; return; }
boolean added = false;
for (member in params.members) {
  if (story.article_ids.contains(member.id)) { continue; }
  if (story.article_ids.size() < params.kept) { story.article_ids.add(member.id); }
  story.articles += 1;
  if (member.outlet != '' && !story.sources.contains(member.outlet)) {
    story.sources.add(member.outlet);
  }
  story.latest = member.copy;
  added = true;
}
if (!added) { ctx.op = 'none'; return; }
Collections.sort(story.sources);
story.outlets = story.sources.size();
story.updated_at = params.now;
"""


def write_alerts(
    es: store.Client,
    names: IndexNames,
    hits: Mapping[str, Sequence[AlertHit]],
    now: datetime,
) -> HitOutcome:
    """Write the alerts of each article (id -> its alerts): create-only per article; per
    story, one upsert per alert that creates it with the batch's copies or adds those."""
    by_id: dict[str, list[tuple[str, AlertHit]]] = {}
    for article_id, article_hits in hits.items():
        for hit in article_hits:
            by_id.setdefault(hit.id, []).append((article_id, hit))
    result = store.bulk_write(es, (_alert_action(names, group, now) for group in by_id.values()),
                              label="alerts")  # fmt: skip
    outcome = HitOutcome(failures=result.failures)
    for doc_id, item in result.items.items():
        status, done = item.get("status", 0), item.get("result")
        if status == 409 or done == "noop":
            outcome.existing += 1
            outcome.existing_ids.add(doc_id)
        elif done == "created":
            outcome.created += 1
        elif done == "updated":
            outcome.joined += 1
    for article_id, article_hits in hits.items():
        done = all(_written(result.items.get(hit.id)) for hit in article_hits)
        (outcome.settled if done else outcome.unsettled).add(article_id)
    return outcome


def _alert_action(
    names: IndexNames, group: Sequence[tuple[str, AlertHit]], now: datetime
) -> dict[str, Any]:
    """The write of one alert from its hits in this batch (the first raises it)."""
    first = group[0][1]
    if first.per != "story":
        return {"_op_type": "create", "_index": names.alerts, "_id": first.id,
                "_source": first.to_document()}  # fmt: skip
    members = []
    for _, hit in group:
        assert hit.story is not None and hit.article_id is not None
        members.append((hit.article_id, _outlet(hit.article), hit.story["latest"]))
    first.story = _story_of(members, now)
    return {
        "_op_type": "update",
        "_index": names.alerts,
        "_id": first.id,
        "retry_on_conflict": 5,  # copies of one story matched by several workers at once
        "script": {
            "source": _JOIN_ALERT,
            "lang": "painless",
            "params": {
                "members": [{"id": i, "outlet": o, "copy": c} for i, o, c in members],
                "kept": STORY_IDS_KEPT,
                "now": now.isoformat(),
            },
        },
        "upsert": first.to_document(),
    }


def _written(item: Mapping[str, Any] | None) -> bool:
    """The alert exists now: created or updated (2xx) or there already (409)."""
    status = item.get("status", 0) if item else 0
    return 200 <= status < 300 or status == 409


def _clear_pending(es: store.Client, articles: Mapping[str, str], outcome: HitOutcome) -> None:
    """Mark settled articles (id -> index) as having all their alerts. A mark that cannot be
    cleared only costs the next run a look-up that finds the alerts there."""
    actions = [
        {"_op_type": "update", "_index": index, "_id": doc_id, "doc": {"alerts_pending": False}}
        for doc_id, index in articles.items()
    ]
    result = store.bulk_write(es, actions, label="alerts")
    for reason, n in result.failures.items():
        outcome.failures[f"{reason}:pending_mark"] += n


def _add_outcome(total: HitOutcome, outcome: HitOutcome) -> None:
    total.created += outcome.created
    total.joined += outcome.joined
    total.existing += outcome.existing
    total.failures.update(outcome.failures)
    total.existing_ids |= outcome.existing_ids
    total.settled |= outcome.settled
    total.unsettled |= outcome.unsettled
