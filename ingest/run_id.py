"""Run ids: the one way every run's report (`RunReport.run_id`) is named.

ingest run         20261205T204018Z-1a2b3c4d          (UTC start, 8 random hex digits)
another kind       refetch-20261205T204018Z-1a2b3c4d  (`kind`)
part of a run      batch-003@<DAG run id>             (`kind`, `index`, `part_of`)
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

__all__ = ["run_id"]


def run_id(
    kind: str = "",
    *,
    started: datetime | None = None,
    part_of: str | None = None,
    index: int = 0,
) -> str:
    """The id of a run: of its own, stamped with `started` (now by default) and prefixed by
    `kind-` if given; or, with `part_of`, the `index`th part of that run."""
    if part_of is not None:
        return f"{kind}-{index:03d}@{part_of}"
    started = started or datetime.now(UTC)
    stamp = f"{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    return f"{kind}-{stamp}" if kind else stamp
