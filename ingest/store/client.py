"""The Elasticsearch client: `connect`, and what other packages take from the client library.

Every client mediamon makes comes from `connect`, and is a `BoundaryElasticsearch`
(`ingest.store.boundary`), so that every call's failures are sorted in one place. Against
the embedded Elasticsearch 7.10 it speaks through `Es7CompatNode`.
"""

from __future__ import annotations

from typing import Any

from elastic_transport import ApiResponseMeta, HttpHeaders, Urllib3HttpNode
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport._node._base import NodeApiResponse
from elasticsearch import (
    ApiError,
    AuthenticationException,
    AuthorizationException,
    BadRequestError,
    Elasticsearch,
)
from elasticsearch.helpers import scan
from elasticsearch.serializer import OrjsonSerializer

from ingest.config import Settings
from ingest.errors import StoreError
from ingest.store.boundary import BoundaryElasticsearch

__all__ = [
    "ApiError",
    "AuthenticationException",
    "AuthorizationException",
    "BadRequestError",
    "Client",
    "Es7CompatNode",
    "connect",
    "scan",
]


# What the other packages need of the client library, so that only store/ imports it: the
# client's type (every client is made by `connect`), `scan`, the errors of a request
# Elasticsearch refused (the boundary raises the cluster's own condition as `StoreError`),
# and those of credentials it refused (a task fails at once on them: `ingest.airflow_tasks`).
Client = Elasticsearch


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
