"""What each Airflow task does, as plain functions: the DAG files only schedule.

    plan          load and validate the feeds file, make sure the templates are installed,
                  split the feeds into host-grouped batches        -> list of batch specs
    ingest_batch  `pipeline.run_feeds` over one batch: the feeds that are due, alerts
                  recorded but not yet sent                        -> counts of that batch
    summarize     merge the batches' counts, note the failed ones, send the run's alerts
                  (once, so a digest covers every batch), store the run report

Only small values travel through XCom: a batch spec is the batch's feed definitions (names,
URLs, tags, no content) and a label; a result is counts. Airflow itself is imported inside the
functions that need it (the connection, the Variables, `AirflowFailException`), so planning,
summaries and the error mapping are tested without Airflow.

Errors are mapped where they leave mediamon (`task_errors`): a `ConfigError`, an
authentication failure or a permanent `StoreError` fails the task at once
(`AirflowFailException`: retrying will not fix a bad file or a wrong password); a transient
`StoreError` or a connection failure is re-raised as is, and Airflow retries it with
exponential backoff.
"""

from __future__ import annotations

import heapq
import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from ingest.config import Settings
from ingest.errors import ConfigError, MediamonError, StoreError
from ingest.models import Feed, RunReport

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from ingest.alerts.notify import DeliverySettings

log = logging.getLogger(__name__)

CONN_ID = "elasticsearch_default"
SMTP_CONN_ID = "smtp_default"  # alert e-mail, when MEDIAMON_SMTP_HOST is not set
FETCH_POOL = "mediamon_fetch"  # bounds how many batches fetch at once, over every DAG run

# Airflow Variables read at run time (never at parse time), with their defaults.
VARIABLE_DEFAULTS: dict[str, str] = {
    "mediamon_feeds_file": "/opt/mediamon/config/feeds.yaml",
    "mediamon_rules_file": "/opt/mediamon/config/alerts.yaml",
    "mediamon_index_prefix": "",  # empty: the connection's extra "index_prefix", else "mediamon"
    "mediamon_max_batches": "16",
    "mediamon_retention_months": "0",  # 0 keeps every article
    "mediamon_health_failures": "3",
    "mediamon_health_stale_days": "7",
    "mediamon_poll_all_feeds": "false",  # true: every run polls every feed, due or not
    "mediamon_refetch_after": "24h 7d",  # ages to re-check articles at, for edits
}


class ConnectionLike(Protocol):
    """The parts of an Airflow `Connection` that describe an Elasticsearch endpoint."""

    conn_type: str | None
    host: str | None
    port: int | None
    schema: str | None
    login: str | None
    password: str | None

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Options:
    """The Airflow Variables mediamon reads, resolved with their defaults."""

    feeds_file: Path
    rules_file: Path
    index_prefix: str
    max_batches: int
    retention_months: int
    health_failures: int
    health_stale_days: int
    poll_all_feeds: bool = False
    refetch_after: tuple[str, ...] = ("24h", "7d")

    @classmethod
    def from_values(cls, values: Mapping[str, str]) -> Options:
        def get(key: str) -> str:
            return str(values.get(key) or VARIABLE_DEFAULTS[key]).strip()

        return cls(
            feeds_file=Path(get("mediamon_feeds_file")),
            rules_file=Path(get("mediamon_rules_file")),
            index_prefix=get("mediamon_index_prefix"),
            max_batches=_whole(get, "mediamon_max_batches", minimum=1),
            retention_months=_whole(get, "mediamon_retention_months", minimum=0),
            health_failures=_whole(get, "mediamon_health_failures", minimum=1),
            health_stale_days=_whole(get, "mediamon_health_stale_days", minimum=1),
            poll_all_feeds=_yes_no(get, "mediamon_poll_all_feeds"),
            refetch_after=tuple(get("mediamon_refetch_after").split()),  # checked by refetch
        )


def _whole(get: Any, key: str, minimum: int) -> int:
    text = get(key)
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"Airflow Variable {key}: {text!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"Airflow Variable {key}: must be at least {minimum}, got {value}")
    return value


def _yes_no(get: Any, key: str) -> bool:
    text = get(key).lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise ConfigError(f"Airflow Variable {key}: {text!r} is not true or false")


# -- Airflow's side: Variables and the connection (imported lazily) --------------------------


def airflow_options() -> Options:
    """The mediamon Variables from Airflow (env `AIRFLOW_VAR_MEDIAMON_*` works too)."""
    from airflow.sdk import Variable

    # default=None: Airflow masks a default in the logs as if it were a secret.
    values = {key: Variable.get(key, default=None) for key in VARIABLE_DEFAULTS}
    return Options.from_values({key: value for key, value in values.items() if value})


def airflow_settings(options: Options | None = None, conn_id: str = CONN_ID) -> Settings:
    """`Settings` for a task: Elasticsearch from the Airflow connection, the rest as usual.

    Egress, fetch limits and the like still come from `Settings.from_env()` (the worker's
    environment); the index prefix from the Variable, else the connection's extra.
    """
    from airflow.sdk import BaseHook

    options = options or airflow_options()
    connection = BaseHook.get_connection(conn_id)
    settings = settings_from_connection(connection, Settings.from_env())
    if options.index_prefix:
        settings = replace(settings, index_prefix=options.index_prefix)
    log.info("Elasticsearch %s", describe(settings))
    return settings


def settings_from_connection(connection: ConnectionLike, base: Settings) -> Settings:
    """Fill `base` from an Elasticsearch connection: host, port, scheme, credentials, extras.

    Accepted forms: host `es01` with port and extra `{"scheme": "https"}` (or schema
    `https`), or a whole URL in host (`https://es01:9200`). Credentials: login and password,
    or extra `api_key`. Extra `index_prefix` sets the prefix.
    """
    extra = connection.extra_dejson or {}
    host = (connection.host or "").strip()
    if not host:
        raise ConfigError(f"Airflow connection {CONN_ID}: no host")
    if "://" in host:
        parts = urlsplit(host)
        scheme, hostname, port = parts.scheme, parts.hostname or "", parts.port
    else:
        scheme, hostname, port = "", host, None
    scheme = scheme or str(extra.get("scheme") or "") or _scheme_from_schema(connection.schema)
    port = connection.port or port or 9200
    if scheme not in ("http", "https"):
        raise ConfigError(f"Airflow connection {CONN_ID}: scheme {scheme!r} is not http(s)")
    values: dict[str, Any] = {"es_url": f"{scheme}://{_bracketed(hostname)}:{port}"}
    if extra.get("api_key"):
        values.update(es_api_key=str(extra["api_key"]), es_username=None, es_password=None)
    elif connection.login:
        values.update(es_username=connection.login, es_password=connection.password or None)
    if extra.get("index_prefix"):
        values["index_prefix"] = str(extra["index_prefix"])
    return replace(base, **values)


def _scheme_from_schema(schema: str | None) -> str:
    # The Elasticsearch provider's URI form puts the scheme in the path: elasticsearch://h:9200/https
    return schema if schema in ("http", "https") else "http"


def _bracketed(hostname: str) -> str:
    return f"[{hostname}]" if ":" in hostname else hostname


def describe(settings: Settings) -> str:
    """Where settings point, for logs: URL, prefix and the kind of auth, never a secret."""
    auth = "api key" if settings.es_api_key else "basic" if settings.es_username else "none"
    return f"{settings.es_url} (auth: {auth}, index prefix: {settings.index_prefix})"


# -- error mapping ---------------------------------------------------------------------------


def is_permanent(exc: BaseException) -> bool:
    """Whether retrying cannot help: a bad file or setting, refused credentials, a bad request."""
    from elasticsearch import AuthenticationException, AuthorizationException

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


# -- planning --------------------------------------------------------------------------------


def host_of(feed: Feed) -> str:
    return (urlsplit(feed.url).hostname or "").lower()


def plan_batches(feeds: Sequence[Feed], max_batches: int) -> list[list[Feed]]:
    """Split feeds into at most `max_batches` batches, every host's feeds in one batch.

    Politeness limits are per host inside one pipeline run, so a host must not be spread over
    batches that may run at once on different workers. Hosts are dealt largest first to the
    lightest batch, which keeps batches even; the result is deterministic for a given input.
    """
    if max_batches < 1:
        raise ConfigError(f"max_batches must be at least 1, got {max_batches}")
    by_host: dict[str, list[Feed]] = defaultdict(list)
    for feed in feeds:
        by_host[host_of(feed)].append(feed)
    groups = sorted(by_host.items(), key=lambda item: (-len(item[1]), item[0]))
    count = min(max_batches, len(groups))
    heap = [(0, index) for index in range(count)]  # (feeds so far, batch index)
    batches: list[list[Feed]] = [[] for _ in range(count)]
    for _, group in groups:
        size, index = heapq.heappop(heap)
        batches[index].extend(group)
        heapq.heappush(heap, (size + len(group), index))
    return [batch for batch in batches if batch]


def batch_specs(batches: Sequence[Sequence[Feed]]) -> list[dict[str, Any]]:
    """The XCom form of planned batches: index, a readable label, the feed definitions."""
    total = len(batches)
    return [
        {
            "index": index,
            "label": batch_label(index, total, batch),
            "feeds": [feed_to_spec(feed) for feed in batch],
        }
        for index, batch in enumerate(batches)
    ]


def batch_label(index: int, total: int, batch: Sequence[Feed]) -> str:
    """`3/8 nos.nl, nu.nl +4 hosts (12 feeds)`: the map index name shown in the Airflow UI."""
    hosts = sorted({host_of(feed) for feed in batch})
    shown = ", ".join(hosts[:2]) + (f" +{len(hosts) - 2} hosts" if len(hosts) > 2 else "")
    noun = "feed" if len(batch) == 1 else "feeds"
    return f"{index + 1}/{total} {shown} ({len(batch)} {noun})"


def feed_to_spec(feed: Feed) -> dict[str, Any]:
    return {
        "name": feed.name,
        "url": feed.url,
        "language": feed.language,
        "source": feed.source,
        "tags": list(feed.tags),
    }


def feed_from_spec(spec: Mapping[str, Any]) -> Feed:
    try:
        return Feed(
            name=str(spec["name"]),
            url=str(spec["url"]),
            language=spec.get("language"),
            source=spec.get("source"),
            tags=tuple(spec.get("tags") or ()),
        )
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"batch spec has a malformed feed: {spec!r} ({exc})") from None


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


def batch_run_id(dag_run_id: str, index: int) -> str:
    """The run id of one batch's own report: `batch-003@<dag run id>`."""
    return f"batch-{index:03d}@{dag_run_id}"


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


def batch_result(index: int, feeds: int, report: RunReport) -> dict[str, Any]:
    """What a batch hands to the summary through XCom: counts only."""
    return {
        "index": index,
        "feeds": feeds,
        "run_id": report.run_id,
        "counts": dict(report.counts),
        "failures": dict(report.failures),
        "by_language": dict(report.by_language),
        "by_source": dict(report.by_source),
    }


# -- summary ---------------------------------------------------------------------------------


def summary_report(
    batches: Sequence[Mapping[str, Any]],
    results: Iterable[Mapping[str, Any] | None],
    run_id: str,
    started_at: datetime,
) -> RunReport:
    """One report for the whole DAG run: every batch's counts, and each failed batch named.

    A batch that failed (no result) counts under `batch:failed`, with its feeds under
    `feeds.in_failed_batches`, so the report says what was not polled this run.
    """
    report = RunReport(run_id=run_id, started_at=started_at)
    done: set[int] = set()
    for result in results:
        if not result:
            continue
        done.add(int(result["index"]))
        report.counts.update(result.get("counts", {}))
        report.failures.update(result.get("failures", {}))
        report.by_language.update(result.get("by_language", {}))
        report.by_source.update(result.get("by_source", {}))
    report.count("batches.planned", len(batches))
    report.count("batches.ok", len(done))
    for batch in batches:
        if int(batch["index"]) not in done:
            report.count("batches.failed")
            report.count("feeds.in_failed_batches", len(batch["feeds"]))
            report.fail("batch:failed", f"batch {batch['label']} failed: see its task log")
    report.finished_at = datetime.now(UTC)
    return report


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


def worker_delivery_settings() -> DeliverySettings:
    """How alerts are sent from this worker: `MEDIAMON_SMTP_*` and `MEDIAMON_SECRET_*` from
    its environment (as the CLI reads them); without `MEDIAMON_SMTP_HOST`, the Airflow
    connection `smtp_default` if there is one."""
    from ingest.alerts.notify import DeliverySettings, SmtpSettings

    delivery = DeliverySettings.from_env(os.environ)
    if delivery.smtp is not None:
        return delivery
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        connection = BaseHook.get_connection(SMTP_CONN_ID)
    except AirflowNotFoundException:
        return delivery
    return replace(delivery, smtp=SmtpSettings.from_connection(connection))


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
    """Sync the alert rules file into the rules index, once `ingest.alerts` provides it.

    The hook is `ingest.alerts.sync_rules_file(es, names, path) -> int` (rules synced). Until
    that module lands the task says so in its log and result instead of pretending.
    """
    import importlib

    from ingest import store

    with task_errors("rules"):
        try:
            alerts = importlib.import_module("ingest.alerts")
        except ModuleNotFoundError:
            alerts = None
        if alerts is None or not hasattr(alerts, "sync_rules_file"):
            log.warning("alert rules: ingest.alerts.sync_rules_file is not available; not synced")
            return {"synced": 0, "skipped": "ingest.alerts.sync_rules_file not available"}
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
            outcome = alerts.record_missing_alerts(
                es, names, f"maintenance-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
            )
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
        run_id = _required_run_id(dag_run_id)
        settings = settings or airflow_settings()
        with _client(settings) as es:
            checks = alerts.check_spikes(es, store.IndexNames(settings.index_prefix), run_id=run_id)
            report = RunReport(run_id=f"spikes-{run_id}", started_at=datetime.now(UTC))
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
def _client(settings: Settings) -> Iterator[Elasticsearch]:
    from ingest import store

    es = store.connect(settings)
    try:
        yield es
    finally:
        es.close()
