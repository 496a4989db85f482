"""Volume spikes: a rule's matches of the last day against the daily mean of the 14 before.

A rule may ask for a daily volume-spike alert (`spike` in the rules file): `check_spikes`
records one spike alert per rule and day when the last day is above, carrying what changed
that day (`ingest.alerts.explanation`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest import store
from ingest.alerts.explanation import SpikeExplanation, explain_spike
from ingest.alerts.record import write_alerts
from ingest.alerts.rules import Rule, Spike, article_query
from ingest.alerts.sync import stored_rules
from ingest.errors import StoreError
from ingest.models import AlertHit
from ingest.store import IndexNames

SPIKE_DAYS = 14


@dataclass(frozen=True)
class SpikeCheck:
    rule_id: str
    last_day: int
    daily_mean: float
    spike: Spike
    spiking: bool
    alerted: bool = False  # a new spike alert was recorded (at most one per rule per day)
    # What changed on the spiking day: terms, largest stories, top sources (when spiking).
    explanation: SpikeExplanation | None = None

    def to_dict(self) -> dict[str, Any]:
        found = dict(self.__dict__, spike=self.spike.__dict__)
        found["explanation"] = self.explanation.to_dict() if self.explanation else None
        return found


def check_spikes(
    es: store.Client,
    names: IndexNames,
    now: datetime | None = None,
    run_id: str = "spikes",
) -> list[SpikeCheck]:
    """For every rule with `spike`, compare its matches published in the last day with the
    daily mean of the 14 days before; record one spike alert per rule and day when above,
    carrying what changed (`ingest.alerts.explanation`: the terms that stand out against the
    rule's matches of the whole window, the day's largest stories and top sources).

    The counts come from one search over the articles with the rules' own queries, so a rule
    added today is measured over the past too, not only over articles matched since.
    """
    now = now or datetime.now(UTC)
    rules = [rule for rule in stored_rules(es, names) if rule.spike]
    if not rules:
        return []
    day_ago, start = now - timedelta(days=1), now - timedelta(days=SPIKE_DAYS + 1)
    response = es.options(ignore_status=404).search(
        index=names.articles,
        size=0,
        query={"range": {"published_at": {"gte": start.isoformat(), "lt": now.isoformat()}}},
        aggs={"rules": {
            "filters": {"filters": {rule.id: article_query(rule) for rule in rules}},
            "aggs": {"window": {"date_range": {"field": "published_at", "keyed": True, "ranges": [
                {"key": "before", "from": start.isoformat(), "to": day_ago.isoformat()},
                {"key": "last", "from": day_ago.isoformat(), "to": now.isoformat()},
            ]}}},
        }},
    )  # fmt: skip
    buckets = response.get("aggregations", {}).get("rules", {}).get("buckets", {})
    checks, hits = [], []
    for rule in rules:
        assert rule.spike is not None
        window = buckets.get(rule.id, {}).get("window", {}).get("buckets", {})
        last = int(window.get("last", {}).get("doc_count", 0))
        mean = window.get("before", {}).get("doc_count", 0) / SPIKE_DAYS
        spiking = last >= rule.spike.min_count and last > rule.spike.factor * mean
        why = None
        if spiking:
            why = explain_spike(es, names, article_query(rule), start, day_ago, now, rule.id)
            hits.append(_spike_hit(rule, last, mean, now, run_id, why))
        checks.append(SpikeCheck(rule.id, last, round(mean, 2), rule.spike, spiking, False, why))
    created = write_alerts(es, names, {hit.subject: [hit] for hit in hits}, now)
    if created.failures:
        raise StoreError(f"could not record spike alerts: {dict(created.failures)}")
    new = {hit.rule_id for hit in hits if hit.id not in created.existing_ids}
    return [replace(check, alerted=check.rule_id in new) for check in checks]


def _spike_hit(
    rule: Rule, last: int, mean: float, now: datetime, run_id: str, why: SpikeExplanation
) -> AlertHit:
    assert rule.spike is not None
    return AlertHit(
        rule_id=rule.id,
        rule_name=rule.title,
        subject=f"spike:{now:%Y-%m-%d}",
        kind="spike",
        created_at=now,
        run_id=run_id,
        targets=[target.key for target in rule.notify],
        rule_tags=list(rule.tags),
        spike={
            "day": now.date().isoformat(),
            "last_day": last,
            "daily_mean": round(mean, 2),
            "factor": rule.spike.factor,
            "min_count": rule.spike.min_count,
            "terms": [term["term"] for term in why.terms],
            "explanation": why.to_dict(),
        },
    )
