"""The feeds a run holds: leased in the feeds index, so that two runs never poll one feed.

A run claims its feeds' leases before polling (`store.claim_feeds`); a feed leased by another
live run is left to it (`feeds.leased_elsewhere`). The leases are renewed while the run lives
and given back if it stops early; saving the feeds' state ends them otherwise, and a run that
died frees its feeds when they lapse (`Settings.feed_lease_seconds`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

from ingest import store
from ingest.errors import StoreError
from ingest.models import Feed, RunReport

__all__ = ["leased_feeds"]


@contextlib.asynccontextmanager
async def leased_feeds(
    es: store.Client,
    names: store.IndexNames,
    feed_list: Sequence[Feed],
    report: RunReport,
    lease: timedelta,
) -> AsyncIterator[list[Feed]]:
    """The feeds of `feed_list` this run holds a lease on (`store.claim_feeds`), the others
    counted as `feeds.leased_elsewhere`; the leases are renewed while the run lives and given
    back if it stops before saving the feeds' state (which ends them otherwise)."""
    started = report.started_at
    claimed = store.claim_feeds(
        es, names, {f.name: f.url for f in feed_list}, report.run_id, started + lease, started
    )
    if len(claimed) < len(feed_list):  # another run is polling them now: its work, not ours
        report.count("feeds.leased_elsewhere", len(feed_list) - len(claimed))
    renewing = asyncio.create_task(_renew_leases(es, names, report, lease))
    try:
        yield [f for f in feed_list if f.name in claimed]
    except BaseException:
        with contextlib.suppress(StoreError):
            store.release_feeds(es, names, claimed, report.run_id)
        raise
    finally:
        renewing.cancel()


async def _renew_leases(
    es: store.Client, names: store.IndexNames, report: RunReport, lease: timedelta
) -> None:
    """Keep this run's feeds leased while it lives, renewing every third of the lease."""
    while True:
        await asyncio.sleep(lease.total_seconds() / 3)
        until = datetime.now(UTC) + lease
        try:
            await asyncio.to_thread(store.renew_feeds, es, names, report.run_id, until)
        except StoreError:  # a busy cluster: two more renewals come before the lease ends
            report.count("feeds.lease_renewal_failed")
