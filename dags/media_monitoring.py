"""mediamon: poll the news feeds and index new articles in Elasticsearch.

plan (validate the feeds file, install templates, host-grouped batches)
  -> ingest_batch, one mapped task per batch, in the `mediamon_fetch` pool (the feeds that
     are due; alerts recorded, not yet sent)
  -> summary (runs once every batch is done, failed ones too, unless planning failed: sends
     the run's alerts once, stores the whole run's report, fails the run if a batch failed)

Scheduling only: every task body calls `ingest.airflow_tasks`. Elasticsearch comes from the
connection `elasticsearch_default`; the feeds file and the rest from the `mediamon_*`
Variables (README, "Deploy"). The schedule is the one value read when the file is parsed:
Variable `mediamon_schedule` (a cron expression or preset), default every 15 minutes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import TriggerRule, Variable, dag, task

if TYPE_CHECKING:
    from airflow.sdk.types import DagRunProtocol

DEFAULT_SCHEDULE = "*/15 * * * *"

RETRIES = {
    # Transient errors (Elasticsearch away, a timeout) back off 1, 2, 4, 8 minutes;
    # permanent ones raise AirflowFailException and are not retried.
    "retries": 4,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=15),
}


@dag(
    dag_id="media_monitoring",
    # The one parse-time read. default=None: Airflow would mask a default like a secret.
    schedule=Variable.get("mediamon_schedule", default=None) or DEFAULT_SCHEDULE,
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=RETRIES,
    tags=["mediamon"],
    doc_md=__doc__,
)
def media_monitoring() -> None:
    @task
    def plan() -> list[dict[str, Any]]:
        from ingest import airflow_tasks

        return airflow_tasks.plan()

    @task(
        pool="mediamon_fetch",
        map_index_template="{{ task.op_kwargs['batch']['label'] }}",
        execution_timeout=timedelta(hours=1),
    )
    def ingest_batch(batch: dict[str, Any], run_id: str | None = None) -> dict[str, Any]:
        from ingest import airflow_tasks

        return airflow_tasks.ingest_batch(batch, dag_run_id=run_id)

    @task(trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS)
    def summary(
        batches: list[dict[str, Any]],
        results: list[dict[str, Any]],
        run_id: str | None = None,
        dag_run: DagRunProtocol | None = None,
    ) -> dict[str, Any]:
        from ingest import airflow_tasks

        started = dag_run.start_date if dag_run else None
        report = airflow_tasks.summarize(batches, results, dag_run_id=run_id, started_at=started)
        airflow_tasks.fail_if_batches_failed(report)
        return report

    batches = plan()
    summary(batches, ingest_batch.expand(batch=batches))


media_monitoring()
