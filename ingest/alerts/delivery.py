"""Delivery: pending alerts leased, sent through their rule's targets, and settled.

    end of a run ─▶ deliver_pending (pending alerts, oldest first: earlier failures, then new)

The notification state (`status` pending|sent|failed, `attempts`, `last_error`, `sent_at`,
one entry per target in `deliveries`) is updated by the run that delivers it, which first
takes a short lease on it (optimistic concurrency), so parallel Airflow batches never send
one alert twice, and saves the outcome as those fields only, while the lease is still its
own (copies joining meanwhile stay). A delivery that fails transiently stays pending and the
next run retries it; a permanent failure (a 404 webhook, a refused recipient) marks it
failed, and `requeue_failed` puts it back once the target is fixed. Sending itself is
`ingest.alerts.notify`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest import store
from ingest.alerts.notify import DeliverySettings, Notifier, Target, redact
from ingest.alerts.sync import get_rule
from ingest.config import Settings
from ingest.errors import FetchError
from ingest.fetch.client import HttpClient
from ingest.models import AlertHit, RunReport
from ingest.store import IndexNames

DELIVERY_PAGE = 200
LEASE_MARGIN = timedelta(minutes=2)  # stop sending this long before a lease runs out


@dataclass
class DeliveryOutcome:
    """What one delivery pass did, per alert (a digest's alerts count one by one)."""

    notified: int = 0  # every target delivered
    pending: int = 0  # some target failed for now: the next run retries
    failed: int = 0  # some target failed for good, none left to try
    busy: int = 0  # taken by another run meanwhile
    failures: Counter[str] = field(default_factory=Counter)  # notify:<reason>, per target


@dataclass
class _Claimed:
    alert: AlertHit
    lease: dict[str, Any]  # lease_owner and lease_until as written by the claim


async def deliver_pending(
    es: store.Client,
    names: IndexNames,
    notifier: Notifier,
    report: RunReport | None = None,
    *,
    owner: str = "mediamon",
) -> DeliveryOutcome:
    """Deliver every pending alert, oldest first, and record each delivery's outcome.

    Pending alerts are leased before sending (an optimistic-concurrency write), so two runs
    delivering at once never both send one alert. Counts go to `report` as alerts.notified,
    alerts.pending, alerts.failed and failures `notify:<reason>`.
    """
    outcome = DeliveryOutcome()
    es.options(ignore_status=404).indices.refresh(index=names.alerts)
    after: list[Any] | None = None
    seen = 0
    while seen < notifier.delivery.max_alerts_per_run:
        now = datetime.now(UTC)
        hits = _pending_page(es, names, now, after)
        if not hits:
            break
        after = hits[-1]["sort"]
        seen += len(hits)
        until = now + notifier.delivery.lease
        claimed = _claim(es, names, hits, owner, until, outcome)
        if claimed:
            margin = min(LEASE_MARGIN, notifier.delivery.lease / 2)
            await _deliver(es, names, claimed, notifier, outcome, until - margin)
    if report is not None:
        report.count("alerts.notified", outcome.notified)
        report.count("alerts.pending", outcome.pending)
        if outcome.failed:
            report.count("alerts.failed", outcome.failed)
        for reason, n in outcome.failures.items():
            report.fail(reason, n=n)
    return outcome


def notify_pending(
    es: store.Client,
    settings: Settings,
    delivery: DeliverySettings,
    report: RunReport | None = None,
    *,
    owner: str = "notify",
) -> DeliveryOutcome:
    """`deliver_pending` outside an ingestion run, with an `HttpClient` of its own: for
    `mediamon alerts notify`/`spikes`, and for an Airflow task delivering once per DAG run."""

    async def deliver() -> DeliveryOutcome:
        async with HttpClient(settings.fetch, settings.egress_allow) as http:
            notifier = Notifier(http, delivery, settings.egress_allow)
            names = IndexNames(settings.index_prefix)
            return await deliver_pending(es, names, notifier, report, owner=owner)

    return asyncio.run(deliver())


def _pending_page(
    es: store.Client, names: IndexNames, now: datetime, after: list[Any] | None
) -> list[dict[str, Any]]:
    response = es.options(ignore_status=404).search(
        index=names.alerts,
        query={"bool": {
            "filter": [{"term": {"status": "pending"}}],
            "must_not": [{"range": {"lease_until": {"gt": now.isoformat()}}}],
        }},
        sort=[{"created_at": "asc"}, {"alert_id": "asc"}],
        size=DELIVERY_PAGE,
        search_after=after,
        seq_no_primary_term=True,
    )  # fmt: skip
    return list(response.get("hits", {}).get("hits", []))


def _claim(
    es: store.Client,
    names: IndexNames,
    hits: list[dict[str, Any]],
    owner: str,
    until: datetime,
    outcome: DeliveryOutcome,
) -> list[_Claimed]:
    alerts = {hit["_id"]: AlertHit.from_document(hit["_source"]) for hit in hits}
    actions = []
    for hit in hits:
        alert = alerts[hit["_id"]]
        alert.lease_owner, alert.lease_until = owner, until
        actions.append({
            "_op_type": "index", "_index": names.alerts, "_id": hit["_id"],
            "_source": alert.to_document(),
            "if_seq_no": hit["_seq_no"], "if_primary_term": hit["_primary_term"],
        })  # fmt: skip
    result = store.bulk_write(es, actions, label="alerts")
    outcome.busy += result.conflicts
    lease = {"owner": owner, "until": until.isoformat()}
    return [
        _Claimed(alerts[doc_id], lease)
        for doc_id, item in result.items.items()
        if doc_id not in result.conflicted and "_seq_no" in item and "error" not in item
    ]


async def _deliver(
    es: store.Client,
    names: IndexNames,
    claimed: list[_Claimed],
    notifier: Notifier,
    outcome: DeliveryOutcome,
    send_until: datetime,
) -> None:
    rules = {
        rule_id: get_rule(es, names, rule_id) for rule_id in {c.alert.rule_id for c in claimed}
    }
    now = datetime.now(UTC)
    groups: dict[tuple[str, ...], tuple[Target, list[AlertHit]]] = {}
    for item in claimed:
        alert = item.alert
        alert.attempts += 1
        rule = rules.get(alert.rule_id)
        targets = {t.key: t for t in rule.notify} if rule else {}
        for key in alert.targets:
            target = targets.get(key)
            if target is None:
                why = "rule_removed" if rule is None else "target_removed"
                _note_delivery(
                    alert, key, now, error=(why, "not in the synced rules any more", False)
                )
                outcome.failures[f"notify:{why}"] += 1
                continue
            group = (
                (alert.rule_id, key, alert.kind)
                if target.digest
                else (alert.rule_id, key, alert.id)
            )
            groups.setdefault(group, (target, []))[1].append(alert)
    failing: dict[tuple[str, str], FetchError] = {}
    for (rule_id, key, *_), (target, alerts) in groups.items():
        if datetime.now(UTC) >= send_until:
            break  # our lease is running out: the rest stays pending for the next run
        error = failing.get((rule_id, key))
        if error is None:
            try:
                await notifier.send(target, alerts)
            except FetchError as exc:
                error = exc
                if exc.transient:  # the target is down: do not wait on it again this run
                    failing[(rule_id, key)] = exc
        secrets = notifier.delivery.secret_values()
        for alert in alerts:
            if error is None:
                _note_delivery(alert, key, now)
            else:
                message = redact(str(error), secrets)
                _note_delivery(alert, key, now, error=(error.reason, message, error.transient))
                outcome.failures[f"notify:{error.reason}"] += 1
    _settle(es, names, claimed, now, outcome)


def _note_delivery(
    alert: AlertHit, key: str, now: datetime, error: tuple[str, str, bool] | None = None
) -> None:
    """Note one target's delivery outcome on the alert; error is (reason, message, transient)."""
    delivery = alert.deliveries.setdefault(key, {"attempts": 0})
    delivery["attempts"] = int(delivery.get("attempts", 0)) + 1
    if error is None:
        delivery.update(status="sent", sent_at=now.isoformat(), last_error=None)
        alert.targets = [k for k in alert.targets if k != key]
        return
    _, message, transient = error
    delivery.update(status="pending" if transient else "failed", last_error=message)
    alert.last_error = message
    if not transient:
        alert.targets = [k for k in alert.targets if k != key]


def _settle(
    es: store.Client,
    names: IndexNames,
    claimed: list[_Claimed],
    now: datetime,
    outcome: DeliveryOutcome,
) -> None:
    actions = []
    for item in claimed:
        alert = item.alert
        alert.lease_owner = alert.lease_until = None
        if alert.targets:
            alert.status = "pending"
            outcome.pending += 1
        elif any(d.get("status") == "failed" for d in alert.deliveries.values()):
            alert.status = "failed"
            outcome.failed += 1
        else:
            alert.status, alert.sent_at, alert.last_error = "sent", now, None
            outcome.notified += 1
        state = {key: alert.to_document()[key] for key in _DELIVERY_STATE}
        actions.append({
            "_op_type": "update", "_index": names.alerts, "_id": alert.id,
            "retry_on_conflict": 5,  # a copy of the story joined the alert meanwhile
            "script": {"source": _SETTLE, "lang": "painless",
                       "params": {"lease": item.lease, "state": state}},
        })  # fmt: skip
    result = store.bulk_write(es, actions, label="alerts")
    lost = sum(item.get("result") == "noop" for item in result.items.values())
    if lost or result.failures:
        # Our lease ran out and another run took the alert: its own outcome stands.
        outcome.failures["notify:state_not_saved"] += lost + sum(result.failures.values())


# The delivery state only, and only while the lease is still the one this run took: copies
# of the story added meanwhile (`ingest.alerts.record`) stay, and a run whose lease ran out (another
# run took the alert) leaves that run's outcome alone.
_DELIVERY_STATE = (
    "status", "attempts", "last_error", "sent_at", "deliveries", "targets",
    "lease_owner", "lease_until",
)  # fmt: skip
_SETTLE = """
if (ctx._source.lease_owner != params.lease.owner
    || ctx._source.lease_until != params.lease.until) { ctx.op = 'none'; return; }
for (entry in params.state.entrySet()) { ctx._source[entry.getKey()] = entry.getValue(); }
"""


def requeue_failed(es: store.Client, names: IndexNames, rule_id: str | None = None) -> int:
    """Put failed alerts back to pending (after fixing a target); return how many."""
    filters: list[dict[str, Any]] = [{"term": {"status": "failed"}}]
    if rule_id:
        filters.append({"term": {"rule_id": rule_id}})
    script = """
        List keys = new ArrayList();
        for (entry in ctx._source.deliveries.entrySet()) {
          if (entry.getValue().status == 'failed') {
            keys.add(entry.getKey());
            entry.getValue().status = 'pending';
          }
        }
        ctx._source.targets = keys; ctx._source.status = 'pending';
    """
    es.indices.refresh(index=names.alerts)
    response = es.update_by_query(
        index=names.alerts, query={"bool": {"filter": filters}},
        script={"source": script, "lang": "painless"}, refresh=True, conflicts="proceed",
    )  # fmt: skip
    return int(response.get("updated", 0))
