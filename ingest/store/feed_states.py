"""Feed state documents: each feed's polling state, and the leases runs hold on feeds.

A feed's state (`ingest.models.FeedState`) is one document in `names.feeds`, named after the
feed. A run takes a lease on the feeds it polls (`claim_feeds`), keeps it while it works
(`renew_feeds`), and ends it by saving the feeds' state (`save_feed_states`) or giving it
back (`release_feeds`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from elasticsearch import Elasticsearch

from ingest.errors import StoreError
from ingest.models import FeedState
from ingest.store.bulk import bulk_write
from ingest.store.names import IndexNames

__all__ = [
    "claim_feeds",
    "load_feed_states",
    "release_feeds",
    "renew_feeds",
    "save_feed_states",
]


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
