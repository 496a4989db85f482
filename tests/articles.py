"""Articles as the pipeline builds them before indexing, for tests that store them directly.

`new_article` fills every required field (a Dutch page fetched and extracted at `when`, its
URL on `domain`); each test module overrides what it is about.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ingest.models import Article


def new_article(
    doc_id: str, when: datetime, domain: str = "nieuws.example", **fields: Any
) -> Article:
    values: dict[str, Any] = {
        "id": doc_id,
        "url": f"https://{domain}/{doc_id}",
        "canonical_url": f"https://{domain}/{doc_id}",
        "domain": domain,
        "source": domain,
        "feeds": ["f"],
        "title": doc_id,
        "summary": "",
        "body": "",
        "language": "nl",
        "language_confidence": 1.0,
        "language_source": "text",
        "published_at": when,
        "date_source": "page",
        "first_seen_at": when,
        "last_seen_at": when,
        "fetched_at": when,
        "extraction_status": "ok",
    }
    return Article(**(values | fields))
