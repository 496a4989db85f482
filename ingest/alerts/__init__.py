"""Alert rules: validate, sync to the percolator index, percolate batches, record hits, notify.

    rules file ─▶ load_rules (shape, ids, targets) ─▶ sync_rules (Elasticsearch validates each
    query; all or nothing) ─▶ `mediamon-rules`, one percolator document per rule

    a batch of new articles ─▶ percolate (one request: a multi-document percolate of the
    batch, each article with its own language's fields only) ─▶ Article.rules
      ─▶ bulk index (with `alerts_pending` on matched articles)
      ─▶ record_hits (one alert per rule and story, or per article; deterministic ids: a
         match alerts once, ever; a later copy joins its story's alert) ─▶ clear `alerts_pending`
    start of a run, and the maintenance DAG ─▶ record_missing_alerts (articles still marked)
    end of a run ─▶ deliver_pending (pending alerts, oldest first: earlier failures, then new)
    once a day ─▶ check_spikes (a rule's matches of the last day against the 14 before)

Which module owns what:

- `rules`: the rules file: `Rule`, `Spike`, reading and checking it (`load_rules`), and a
  rule as a query over indexed articles (`article_query`).
- `sync`: the rules index: Elasticsearch's verdict on each query (`validate_rules`),
  `sync_rules`, and the rules read back (`stored_rules`, `get_rule`).
- `percolate`: which rules each article of a batch matches (`percolate`, `Matches`).
- `record`: the alert documents: `record_hits`, `record_missing_alerts` (the alerts a crash
  left out), the story alert that later copies join.
- `delivery`: leased delivery of pending alerts (`deliver_pending`, `notify_pending`) and
  `requeue_failed`.
- `notify`: the targets (webhook, Slack, email) and the messages sent to them.
- `spikes`: the daily volume-spike check (`check_spikes`).
- `explanation`: what changed on a spike day, and its text.
- `lookup`: what the CLI looks up: `list_rules`, `test_rule`, `alert_history`.
"""

from __future__ import annotations

from ingest.alerts.delivery import DeliveryOutcome, deliver_pending, notify_pending, requeue_failed
from ingest.alerts.lookup import RuleSummary, alert_history, list_rules, test_rule
from ingest.alerts.percolate import PERCOLATE_PAGE, Matches, percolate
from ingest.alerts.record import HitOutcome, record_hits, record_missing_alerts
from ingest.alerts.rules import Rule, Spike, article_query, load_rules, parse_rules
from ingest.alerts.spikes import SpikeCheck, check_spikes
from ingest.alerts.sync import (
    SyncResult,
    ensure_rules_index,
    get_rule,
    stored_rules,
    sync_rules,
    sync_rules_file,
    sync_rules_from,
    validate_rules,
)

__all__ = [
    "PERCOLATE_PAGE",
    "DeliveryOutcome",
    "HitOutcome",
    "Matches",
    "Rule",
    "RuleSummary",
    "Spike",
    "SpikeCheck",
    "SyncResult",
    "alert_history",
    "article_query",
    "check_spikes",
    "deliver_pending",
    "ensure_rules_index",
    "get_rule",
    "list_rules",
    "load_rules",
    "notify_pending",
    "parse_rules",
    "percolate",
    "record_hits",
    "record_missing_alerts",
    "requeue_failed",
    "stored_rules",
    "sync_rules",
    "sync_rules_file",
    "sync_rules_from",
    "test_rule",
    "validate_rules",
]
