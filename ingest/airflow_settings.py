"""mediamon's Airflow settings: the Variables it reads and the connections it uses.

Airflow itself is imported inside the functions that ask it (`airflow_options`,
`airflow_settings`, `worker_delivery_settings`), so that the rest is used and tested without
Airflow: `Options.from_values` resolves Variables with their defaults and checks them,
`settings_from_connection` makes an Elasticsearch connection into `Settings`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from ingest import config
from ingest.config import Settings
from ingest.errors import ConfigError

if TYPE_CHECKING:
    from ingest.alerts.notify import DeliverySettings

__all__ = [
    "CONN_ID",
    "FETCH_POOL",
    "SMTP_CONN_ID",
    "VARIABLE_DEFAULTS",
    "ConnectionLike",
    "Options",
    "airflow_options",
    "airflow_settings",
    "describe",
    "settings_from_connection",
    "worker_delivery_settings",
]

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


def worker_delivery_settings() -> DeliverySettings:
    """How alerts are sent from this worker: `MEDIAMON_SMTP_*` and `MEDIAMON_SECRET_*` from
    its environment (as the CLI reads them); without `MEDIAMON_SMTP_HOST`, the Airflow
    connection `smtp_default` if there is one."""
    from ingest.alerts.notify import DeliverySettings, SmtpSettings

    delivery = DeliverySettings.from_env(config.environment())
    if delivery.smtp is not None:
        return delivery
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        connection = BaseHook.get_connection(SMTP_CONN_ID)
    except AirflowNotFoundException:
        return delivery
    return replace(delivery, smtp=SmtpSettings.from_connection(connection))
