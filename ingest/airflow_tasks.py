"""What each Airflow task does, as plain functions: the DAG files only schedule.

    plan          load and validate the feeds file, make sure the templates are installed,
                  split the feeds into host-grouped batches        -> list of batch specs
    ingest_batch  `pipeline.run_feeds` over one batch: the feeds that are due, alerts
                  recorded but not yet sent                        -> counts of that batch
    summarize     merge the batches' counts, note the failed ones, send the run's alerts
                  (once, so a digest covers every batch), store the run report

and the maintenance DAG's tasks: install_templates, sync_rules, record_missing_alerts,
apply_retention, report_feed_health, refetch_articles, check_spikes.

Only small values travel through XCom: a batch spec is the batch's feed definitions (names,
URLs, tags, no content) and a label; a result is counts (`ingest.airflow_batches` plans the
batches and makes those forms). The Variables and connections are read by
`ingest.airflow_settings`. Airflow itself is imported inside the functions that need it (the
connection, the Variables, `AirflowFailException`), so planning, summaries and the error
mapping are tested without Airflow.

Errors are mapped where they leave mediamon (`task_errors`): a `ConfigError`, an
authentication failure or a permanent `StoreError` fails the task at once
(`AirflowFailException`: retrying will not fix a bad file or a wrong password); a transient
`StoreError` or a connection failure is re-raised as is, and Airflow retries it with
exponential backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ingest.airflow_batches import (
    batch_result,
    batch_run_id,
    batch_specs,
    feed_from_spec,
    plan_batches,
    summary_report,
)
from ingest.airflow_settings import (
    Options,
    airflow_options,
    airflow_settings,
    worker_delivery_settings,
)
from ingest.config import Settings
from ingest.errors import ConfigError, MediamonError, StoreError
from ingest.models import RunReport
from ingest.run_id import run_id

if TYPE_CHECKING:
    from ingest.alerts.notify import DeliverySettings
    from ingest.store import Client

log = logging.getLogger(__name__)


# -- error mapping ---------------------------------------------------------------------------


def is_permanent(exc: BaseException) -> bool:
    """Whether retrying cannot help: a bad file or setting, refused credentials, a bad request."""
    from ingest.store import AuthenticationException, AuthorizationException

    if isinstance(exc, ConfigError | AuthenticationException | AuthorizationException):
        return True
    return isinstance(exc, StoreError) and not exc.transient


@contextmanager
def task_errors(what: str) -> Iterator[None]:
    """Fail at once on permanent errors (`AirflowFailException`); let Airflow retry the rest."""
    try:
        yield
    except Exception as exc:
        if not is_permanent(exc):
            raise  # transient (StoreError(transient=True), connection errors...): retried
        raise _fail_now(f"{what}: {exc}") from exc


def _fail_now(message: str) -> Exception:
    try:
        from airflow.sdk.exceptions import AirflowFailException
    except ImportError:  # plain Python (tests, scripts): a permanent error, said as such
        return PermanentTaskError(message)
    return AirflowFailException(message)


class PermanentTaskError(MediamonError):
    """Raised by `task_errors` when Airflow is not installed: retrying will not help."""


def plan(options: Options | None = None, settings: Settings | None = None) -> list[dict[str, Any]]:
    """The first task: validate the feeds file, install the templates, plan the batches."""
    from ingest import store
    from ingest.feeds import load_feeds

    with task_errors("plan"):
        options = options or airflow_options()
        feeds = load_feeds(options.feeds_file)
        settings = settings or airflow_settings(options)
        with _client(settings) as es:
            store.install_templates(es, store.IndexNames(settings.index_prefix))
        specs = batch_specs(plan_batches(feeds, options.max_batches))
    log.info("%d feeds from %s in %d batches", len(feeds), options.feeds_file, len(specs))
    return specs


# -- one batch -------------------------------------------------------------------------------


def _required_run_id(dag_run_id: str | None) -> str:
    if not dag_run_id:
        raise ConfigError("no DAG run id: run this from an Airflow task, or pass one")
    return dag_run_id


def ingest_batch(
    batch: Mapping[str, Any],
    dag_run_id: str | None,
    options: Options | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Run the pipeline over one batch; return its counts (the batch's report is stored too).

    Only the feeds whose adaptive schedule is due are polled (`mediamon_poll_all_feeds`
    overrides). Alerts are recorded but not delivered here: the summary delivers them once
    for the whole run, so a digest is one message per rule, not one per batch.
    """
    from ingest.pipeline import run_feeds

    with task_errors(f"batch {batch.get('label', '?')}"):
        dag_run_id = _required_run_id(dag_run_id)
        feeds = [feed_from_spec(spec) for spec in batch["feeds"]]
        options = options or airflow_options()
        settings = settings or airflow_settings(options)
        with _client(settings) as es:
            report = run_feeds(
                feeds,
                settings,
                es,
                run_id=batch_run_id(dag_run_id, int(batch["index"])),
                deliver=False,
                due_only=not options.poll_all_feeds,
            )
    log.info("batch %s: %s", batch.get("label"), _headline(report.counts, report.failures))
    return batch_result(int(batch["index"]), len(feeds), report)


# -- summary ---------------------------------------------------------------------------------


def summarize(
    batches: Sequence[Mapping[str, Any]],
    results: Iterable[Mapping[str, Any] | None],
    dag_run_id: str | None,
    started_at: datetime | None = None,
    settings: Settings | None = None,
    delivery: DeliverySettings | None = None,
) -> dict[str, Any]:
    """The last task: deliver the run's pending alerts (once, for every batch), then store
    the whole run's report in the runs index and return its counts."""
    from ingest import alerts, store

    with task_errors("summary"):
        dag_run_id = _required_run_id(dag_run_id)
        report = summary_report(batches, results, dag_run_id, started_at or datetime.now(UTC))
        settings = settings or airflow_settings()
        with _client(settings) as es:
            delivery = delivery or worker_delivery_settings()
            alerts.notify_pending(es, settings, delivery, report, owner=dag_run_id)
            report.finished_at = datetime.now(UTC)
            store.save_run_report(es, store.IndexNames(settings.index_prefix), report)
    log.info("run %s: %s", dag_run_id, _headline(report.counts, report.failures))
    for message in report.errors:
        log.warning("%s", message)
    return {
        "run_id": report.run_id,
        "counts": dict(report.counts),
        "failures": dict(report.failures),
    }


def fail_if_batches_failed(summary: Mapping[str, Any]) -> None:
    """After the report is stored: a run with a failed batch ends failed, so it is noticed."""
    failed = int(summary.get("counts", {}).get("batches.failed", 0))
    if failed:
        planned = summary["counts"].get("batches.planned", "?")
        raise _fail_now(f"{failed} of {planned} batches failed; the run report is stored")


def _headline(counts: Mapping[str, int], failures: Mapping[str, int]) -> str:
    keys = ("feeds.polled", "feeds.not_modified", "feeds.failed", "entries.seen", "articles.new")
    shown = ", ".join(f"{key}={counts.get(key, 0)}" for key in keys)
    return f"{shown}, failures={sum(failures.values())}"


# -- maintenance -----------------------------------------------------------------------------


def install_templates(settings: Settings | None = None) -> list[str]:
    """Install or upgrade the index templates (idempotent)."""
    from ingest import store

    with task_errors("templates"):
        settings = settings or airflow_settings()
        with _client(settings) as es:
            return store.install_templates(es, store.IndexNames(settings.index_prefix))


def sync_rules(options: Options | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """Sync the alert rules file into the rules index (`ingest.alerts.sync_rules_file`); a
    rules file that does not exist is logged and nothing is synced."""
    from ingest import alerts, store

    with task_errors("rules"):
        options = options or airflow_options()
        if not options.rules_file.exists():
            log.warning("alert rules: %s does not exist; nothing synced", options.rules_file)
            return {"synced": 0, "skipped": f"{options.rules_file} not found"}
        settings = settings or airflow_settings(options)
        with _client(settings) as es:
            names = store.IndexNames(settings.index_prefix)
            synced = alerts.sync_rules_file(es, names, options.rules_file)
    log.info("alert rules: %s synced from %s", synced, options.rules_file)
    return {"synced": int(synced)}


def record_missing_alerts(settings: Settings | None = None) -> dict[str, int]:
    """Create the alerts of indexed articles whose alert write failed or never happened
    (`ingest.alerts.record_missing_alerts`; every run does it too). The next ingestion run
    delivers them."""
    from ingest import alerts, store

    with task_errors("missing alerts"):
        settings = settings or airflow_settings()
        with _client(settings) as es:
            names = store.IndexNames(settings.index_prefix)
            outcome = alerts.record_missing_alerts(es, names, run_id("maintenance"))
    if outcome.failures:
        log.warning("missing alerts: not written yet: %s", dict(outcome.failures))
    log.info("missing alerts: %s created, %s already there", outcome.created, outcome.existing)
    return {
        "created": outcome.created,
        "existing": outcome.existing,
        "failed": sum(outcome.failures.values()),
    }


def apply_retention(
    options: Options | None = None, settings: Settings | None = None, today: datetime | None = None
) -> list[str]:
    """Roll the article index over if due, then delete the articles past the retention
    Variable (0: keep everything); returns the article indices dropped whole."""
    from ingest import maintenance, store

    with task_errors("retention"):
        options = options or airflow_options()
        settings = settings or airflow_settings(options)
        with _client(settings) as es:
            names = store.IndexNames(settings.index_prefix)
            rolled = store.roll_over_articles(es, names, settings.rollover)
            log.info("rollover: %s", f"started {rolled}" if rolled else "not due")
            if options.retention_months == 0:
                log.info("retention: mediamon_retention_months is 0, every article is kept")
                return []
            retention = maintenance.drop_old_articles(
                es, names, options.retention_months, today or datetime.now(UTC)
            )
    log.info("retention: %s", retention.summary())
    return retention.dropped_indices


def report_feed_health(
    options: Options | None = None, settings: Settings | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Feed health over the feeds index: logged line by line and stored in the runs index."""
    from ingest import maintenance, store

    with task_errors("feed health"):
        options = options or airflow_options()
        settings = settings or airflow_settings(options)
        names = store.IndexNames(settings.index_prefix)
        with _client(settings) as es:
            health = maintenance.feed_health(
                es,
                names,
                now or datetime.now(UTC),
                failing_after=options.health_failures,
                stale_after=timedelta(days=options.health_stale_days),
            )
            run_id = maintenance.save_feed_health(es, names, health)
    for line in health.lines():
        log.info("%s", line)
    return {"run_id": run_id, **health.counts()}


def refetch_articles(
    options: Options | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """Re-check the articles due at the ages of `mediamon_refetch_after`, keeping the earlier
    version of any that changed (`ingest.revisions.refetch_due`, as `mediamon refetch`)."""
    from ingest import revisions

    with task_errors("refetch"):
        options = options or airflow_options()
        settings = settings or airflow_settings(options)
        try:
            stages = [revisions.parse_stage(age) for age in options.refetch_after]
        except ConfigError as error:
            raise ConfigError(f"Airflow Variable mediamon_refetch_after: {error}") from None
        with _client(settings) as es:
            report = revisions.refetch_due(settings, es, stages=stages)
    log.info("refetch at %s: %s", " ".join(options.refetch_after), dict(report.counts))
    return {"run_id": report.run_id, "counts": dict(report.counts)}


def check_spikes(
    dag_run_id: str | None,
    settings: Settings | None = None,
    delivery: DeliverySettings | None = None,
) -> dict[str, Any]:
    """The daily volume-spike check of the rules that ask for one (`ingest.alerts`), then the
    delivery of the spike alerts it raised, as `mediamon alerts spikes` does."""
    from ingest import alerts, store

    with task_errors("spikes"):
        dag_run_id = _required_run_id(dag_run_id)
        settings = settings or airflow_settings()
        with _client(settings) as es:
            checks = alerts.check_spikes(
                es, store.IndexNames(settings.index_prefix), run_id=dag_run_id
            )
            report = RunReport(run_id=f"spikes-{dag_run_id}", started_at=datetime.now(UTC))
            delivery = delivery or worker_delivery_settings()
            alerts.notify_pending(es, settings, delivery, report, owner=report.run_id)
    for check in checks:
        spiking = " -> spike" if check.spiking else ""
        log.info("spike check %s: %d in the last day, daily mean %.1f%s",
                 check.rule_id, check.last_day, check.daily_mean, spiking)  # fmt: skip
    return {
        "checked": len(checks),
        "spiking": sorted(c.rule_id for c in checks if c.spiking),
        "alerted": sorted(c.rule_id for c in checks if c.alerted),
        "counts": dict(report.counts),
    }


@contextmanager
def _client(settings: Settings) -> Iterator[Client]:
    from ingest import store

    es = store.connect(settings)
    try:
        yield es
    finally:
        es.close()
