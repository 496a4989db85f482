"""mediamon upkeep, daily: templates, alert rules, spikes, edits, retention, feed health.

templates (install or upgrade, idempotent)
  -> rules (sync the rules file into the percolator index)
     -> missing_alerts (alerts of indexed articles whose alert write failed: created once)
     -> spikes (the daily volume-spike check of the rules that ask for one; alerts sent)
  -> refetch (re-check articles at the ages of `mediamon_refetch_after`, default 24h and
     7d, keeping the earlier version of any that changed)
  -> retention (roll the article index over if due; delete the articles published before
     the `mediamon_retention_months` newest months, whole indices where all are older;
     0, the default, keeps everything; the current month is never touched)
  -> feed_health (failing feeds, feeds with nothing new, share of 304s: logged and stored
     in the runs index as `feed-health-YYYY-MM-DD`)

Scheduling only: every task body calls `ingest.airflow_tasks`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import dag, task


@dag(
    dag_id="mediamon_maintenance",
    schedule="@daily",
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=30),
    },
    tags=["mediamon"],
    doc_md=__doc__,
)
def mediamon_maintenance() -> None:
    @task
    def templates() -> list[str]:
        from ingest import airflow_tasks

        return airflow_tasks.install_templates()

    @task
    def rules() -> dict[str, Any]:
        from ingest import airflow_tasks

        return airflow_tasks.sync_rules()

    @task
    def missing_alerts() -> dict[str, int]:
        from ingest import airflow_tasks

        return airflow_tasks.record_missing_alerts()

    @task
    def spikes(run_id: str | None = None) -> dict[str, Any]:
        from ingest import airflow_tasks

        return airflow_tasks.check_spikes(dag_run_id=run_id)

    @task(execution_timeout=timedelta(hours=1))
    def refetch() -> dict[str, Any]:
        from ingest import airflow_tasks

        return airflow_tasks.refetch_articles()

    @task
    def retention() -> list[str]:
        from ingest import airflow_tasks

        return airflow_tasks.apply_retention()

    @task
    def feed_health() -> dict[str, Any]:
        from ingest import airflow_tasks

        return airflow_tasks.report_feed_health()

    synced = rules()
    templates() >> [synced, refetch(), retention(), feed_health()]
    synced >> [missing_alerts(), spikes()]  # both work from the synced rules


mediamon_maintenance()
