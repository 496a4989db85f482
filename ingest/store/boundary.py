"""The one Elasticsearch boundary: every request, and what its failures mean.

Every client mediamon makes (`ingest.store.connect`) is a `BoundaryElasticsearch`, so every
call, the bulk helper's included, passes through `perform_request` here, which sorts a
failure into the project's split (`ingest.errors`):

- transient, the cluster's condition and not the request's: 429 (a full queue, a circuit
  breaker's `circuit_breaking_exception`), 502/503/504, a cluster block (`read_only_allow_delete`
  once a disk passes its flood-stage watermark; the block lifts when the disk frees), a
  timeout, a lost or refused connection. Busy answers are asked again after a growing pause
  (`backoff`); if the cluster is still busy, or is away, the call raises a transient
  `StoreError` whose `reason` (`es:circuit_breaking_exception`, `es:timeout`...) is what a
  run report counts. The run stops with one line, and the next run picks up what was missed.
- permanent: every other error (a 400 for a query that does not parse, a 404 not asked to
  be ignored) is the caller's to handle, as the client raised it.

`item_is_transient` makes the same call for one bulk item's error, so that an article
refused because of the cluster's condition is retried later, never dead-lettered.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from elastic_transport import ApiResponse, ConnectionTimeout
from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import ApiError, Elasticsearch

from ingest.errors import StoreError

__all__ = ["BoundaryElasticsearch", "api_error_reason", "item_is_transient", "without_backoff"]

TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
TRANSIENT_TYPES = frozenset(
    {
        "circuit_breaking_exception",
        "es_rejected_execution_exception",
        "cluster_block_exception",
        "unavailable_shards_exception",
        "no_shard_available_action_exception",
        "process_cluster_event_timeout_exception",
    }
)


# Error types that say the request itself is wrong, whatever its status: Elasticsearch 7
# answers a date histogram with too many buckets with a 503 whose cause is the first.
PERMANENT_TYPES = frozenset(
    {
        "too_many_buckets_exception",
        "query_shard_exception",
        "parse_exception",
        "parsing_exception",
        "illegal_argument_exception",
        "mapper_parsing_exception",
        "strict_dynamic_mapping_exception",
    }
)


def _error_types(error: Any) -> list[str]:
    """Every `type` in an error body: its own, its root causes', its causes' (outermost
    first)."""
    if not isinstance(error, Mapping):
        return []
    found = [str(error["type"])] if error.get("type") else []
    for cause in [*(error.get("root_cause") or []), error.get("caused_by")]:
        found += _error_types(cause)
    for failure in error.get("failed_shards") or []:
        found += _error_types(failure.get("reason") if isinstance(failure, Mapping) else None)
    return found


def api_error_reason(status: int, body: Any) -> str | None:
    """`es:<type>` (or `es:http_<status>`) when an error answer is the cluster's transient
    condition; None when it is permanent."""
    error = body.get("error") if isinstance(body, Mapping) else None
    kinds = _error_types(error)
    if PERMANENT_TYPES.intersection(kinds):
        return None
    transient = [kind for kind in kinds if kind in TRANSIENT_TYPES]
    if transient:
        return f"es:{transient[0]}"
    if status in TRANSIENT_STATUSES:
        return f"es:{kinds[0] if kinds else f'http_{status}'}"
    return None


def item_is_transient(status: int, error: Any) -> bool:
    """Whether one bulk item failed because of the cluster's condition (a block, a full
    queue, a breaker), not because of the document: then it is retried, not refused."""
    return api_error_reason(status, {"error": error}) is not None


class BoundaryElasticsearch(Elasticsearch):
    """The 8.x client, with every request's failures sorted as the module says."""

    # Seconds to wait before asking a busy cluster again: 31.5 s in all, then give up.
    backoff: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)

    def perform_request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        body: Any | None = None,
        endpoint_id: str | None = None,
        path_parts: Mapping[str, Any] | None = None,
    ) -> ApiResponse[Any]:
        waits = iter(self.backoff)
        while True:
            try:
                return super().perform_request(
                    method, path, params=params, headers=headers, body=body,
                    endpoint_id=endpoint_id, path_parts=path_parts,
                )  # fmt: skip
            except ApiError as exc:
                reason = api_error_reason(exc.meta.status, exc.body)
                if reason is None:
                    raise
                wait = next(waits, None)
                if wait is None:
                    raise StoreError(
                        f"Elasticsearch is busy ({reason.removeprefix('es:')}, HTTP "
                        f"{exc.meta.status}) on {method} {path}, still after "
                        f"{sum(self.backoff):g} s of retries",
                        transient=True,
                        reason=reason,
                    ) from None
                time.sleep(wait)
            except ConnectionTimeout as exc:  # the transport has retried it already
                raise StoreError(
                    f"Elasticsearch timed out on {method} {path}: {exc}",
                    transient=True,
                    reason="es:timeout",
                ) from None
            except TransportConnectionError as exc:
                raise StoreError(
                    f"Elasticsearch went away ({method} {path}): {exc}",
                    transient=True,
                    reason="es:connection",
                ) from None

    def options(self, **kwargs: Any) -> BoundaryElasticsearch:
        """As the client's, keeping this client's `backoff`."""
        client = super().options(**kwargs)
        client.backoff = self.backoff
        return client


def without_backoff(es: Elasticsearch) -> Elasticsearch:
    """The same client, giving up at the first busy answer: for what can wait for the next
    run (a rollover), where waiting would hold a batch up."""
    client = es.options()
    if isinstance(client, BoundaryElasticsearch):
        client.backoff = ()
    return client
