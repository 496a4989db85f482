"""Settings from real Airflow connections and Variables (the environment-variable forms)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ingest import airflow_settings
from ingest.errors import ConfigError

pytest.importorskip("airflow", reason="needs mediamon[airflow]")


@pytest.fixture(autouse=True)
def no_mediamon_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("MEDIAMON_SMTP_HOST", "ES_URL", "ES_USERNAME", "ES_PASSWORD", "ES_API_KEY"):
        monkeypatch.delenv(key, raising=False)


def test_connection_in_uri_form(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_ELASTICSEARCH_DEFAULT",
        "elasticsearch://mediamon:p%40ss-w0rd@es01.internal:9243/https?index_prefix=news",
    )
    caplog.set_level(logging.INFO, logger="ingest.airflow_settings")
    settings = airflow_settings.airflow_settings(airflow_settings.Options.from_values({}))
    assert settings.es_url == "https://es01.internal:9243"
    assert (settings.es_username, settings.es_password) == ("mediamon", "p@ss-w0rd")
    assert settings.index_prefix == "news"
    # What the task log shows: where, and the kind of auth; never the password.
    assert "https://es01.internal:9243 (auth: basic, index prefix: news)" in caplog.text
    assert "p@ss-w0rd" not in caplog.text


def test_connection_in_json_form_with_an_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    connection = {"conn_type": "elasticsearch", "host": "https://es.example:443",
                  "extra": {"api_key": "aWQ6c2VjcmV0a2V5"}}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_ELASTICSEARCH_DEFAULT", json.dumps(connection))
    monkeypatch.setenv("AIRFLOW_VAR_MEDIAMON_INDEX_PREFIX", "desk")
    settings = airflow_settings.airflow_settings()
    assert settings.es_url == "https://es.example:443"
    assert settings.es_api_key == "aWQ6c2VjcmV0a2V5" and settings.es_username is None
    assert settings.index_prefix == "desk"  # the Variable wins over the connection


def test_variables_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_MEDIAMON_FEEDS_FILE", "/srv/feeds.yaml")
    monkeypatch.setenv("AIRFLOW_VAR_MEDIAMON_MAX_BATCHES", "5")
    monkeypatch.setenv("AIRFLOW_VAR_MEDIAMON_POLL_ALL_FEEDS", "yes")
    options = airflow_settings.airflow_options()
    assert options.feeds_file == Path("/srv/feeds.yaml")
    assert options.max_batches == 5 and options.poll_all_feeds is True
    assert options.rules_file == Path("/opt/mediamon/config/alerts.yaml")  # the default
    monkeypatch.setenv("AIRFLOW_VAR_MEDIAMON_POLL_ALL_FEEDS", "maybe")
    with pytest.raises(ConfigError, match="mediamon_poll_all_feeds"):
        airflow_settings.airflow_options()


def test_alert_email_from_the_smtp_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    assert airflow_settings.worker_delivery_settings().smtp is None  # neither: no e-mail
    extra = {"from": "alerts@example.org", "security": "ssl"}
    smtp = {"conn_type": "smtp", "host": "mail.example.org", "port": 465, "login": "desk",
            "password": "hunter22", "extra": extra}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(smtp))
    delivery = airflow_settings.worker_delivery_settings()
    assert delivery.smtp is not None
    assert (delivery.smtp.host, delivery.smtp.port, delivery.smtp.security) == (
        "mail.example.org",
        465,
        "ssl",
    )
    assert delivery.smtp.sender == "alerts@example.org"
    # MEDIAMON_SMTP_* in the worker's environment wins over the connection.
    monkeypatch.setenv("MEDIAMON_SMTP_HOST", "relay.internal")
    assert airflow_settings.worker_delivery_settings().smtp.host == "relay.internal"  # type: ignore[union-attr]
