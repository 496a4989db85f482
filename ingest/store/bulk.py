"""The one bulk wrapper, and what it tells of each item it wrote or could not write.

`bulk_write` sends any bulk actions and counts every item's outcome in a `BulkOutcome`;
an item Elasticsearch did not write is an `ItemError`, `rejected` when the document itself
was refused (for the dead letters, `ingest.store.dead_letters`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import Elasticsearch, helpers

from ingest.store.boundary import item_is_transient

__all__ = ["NOT_REJECTIONS", "BulkOutcome", "ItemError", "bulk_write"]


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
    breaker: `boundary.item_is_transient`), which passes.
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
