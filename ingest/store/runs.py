"""Run reports: one document per run in `names.runs`, what the run did and what failed."""

from __future__ import annotations

from elasticsearch import ApiError, Elasticsearch

from ingest.errors import StoreError
from ingest.models import RunReport
from ingest.store.names import IndexNames

__all__ = ["save_run_report"]


def save_run_report(es: Elasticsearch, names: IndexNames, report: RunReport) -> None:
    try:
        es.index(index=names.runs, id=report.run_id, document=report.to_document())
    except ApiError as exc:
        raise StoreError(f"could not store run report {report.run_id}: {exc}") from None
