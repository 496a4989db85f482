"""Settings: credentials written into ES_URL never show where the URL does."""

from __future__ import annotations

import pytest

from ingest import store
from ingest.config import Settings
from ingest.errors import StoreError


def test_credentials_in_the_url_move_to_the_fields_never_shown() -> None:
    settings = Settings.from_env({"ES_URL": "https://elastic:ch%40ngeme@es.example:9243/"})
    assert settings.es_url == "https://es.example:9243/"
    assert (settings.es_username, settings.es_password) == ("elastic", "ch@ngeme")
    assert "ngeme" not in repr(settings)


def test_explicit_credentials_win_over_the_url() -> None:
    env = {"ES_URL": "http://a:b@es:9200", "ES_USERNAME": "u", "ES_PASSWORD": "p"}
    settings = Settings.from_env(env)
    assert (settings.es_url, settings.es_username, settings.es_password) == (
        "http://es:9200",
        "u",
        "p",
    )
    assert Settings(es_url="http://es:9200").es_username is None  # nothing to move


def test_an_unreachable_cluster_is_named_without_the_password() -> None:
    # Port 9 on loopback (discard): nothing listens there on these machines.
    settings = Settings(es_url="http://elastic:s3cret-pw@127.0.0.1:9")
    with pytest.raises(StoreError) as caught:
        store.connect(settings)
    assert "127.0.0.1:9" in str(caught.value) and "s3cret-pw" not in str(caught.value)
