"""Shared fixtures. Integration fixtures (Elasticsearch, local servers) live here too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


SHARED_DIR = Path(os.environ.get("MEDIAMON_SHARED", REPO.parent / "shared"))


def _shared_corpus_present() -> bool:
    return (SHARED_DIR / "corpus" / "pages.jsonl").exists()


def pytest_report_header() -> str:
    """Say up front whether the extra tier runs, not only in the skip count at the end."""
    if _shared_corpus_present():
        return f"extra tier: publishers' pages at {SHARED_DIR}: their tests run"
    return (
        f"extra tier: no shared corpus at {SHARED_DIR}: its tests are skipped "
        "(set MEDIAMON_SHARED to run them; `pytest -rs` lists them)"
    )


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The extra tier: real publishers' pages (`MEDIAMON_SHARED`, else `../shared`).

    Those pages are not ours to redistribute, so a clone does not have them; CI lays the
    folder beside it. Without it the tests that ask for it are skipped, saying why, and the
    rest of the suite runs from the repository alone (`tests/corpus_pages.py`).
    """
    if not _shared_corpus_present():
        pytest.skip(
            f"extra tier: no shared corpus at {SHARED_DIR} (publishers' pages, not in the "
            "repository); set MEDIAMON_SHARED to run these tests"
        )
    return SHARED_DIR


# -- a real Elasticsearch ---------------------------------------------------------------

import ipaddress  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import replace  # noqa: E402

from elasticsearch import Elasticsearch  # noqa: E402

from ingest import embedded, store  # noqa: E402
from ingest.config import Settings  # noqa: E402

# The tests' own embedded node: its own port and data folder, so it never touches a demo's.
TEST_ES_PORT = int(os.environ.get("MEDIAMON_TEST_ES_PORT", "9209"))


@pytest.fixture(scope="session")
def es_url() -> Iterator[str]:
    """`ES_URL` if set; else an embedded node started for this session and stopped after."""
    if os.environ.get("ES_URL"):
        yield os.environ["ES_URL"]
        return
    home = Path(os.environ.get("MEDIAMON_HOME", REPO / ".mediamon")) / "test"
    already_running = embedded.status(home, TEST_ES_PORT).running
    status = embedded.start(home, port=TEST_ES_PORT)
    yield status.url
    if not already_running:
        embedded.stop(home, port=TEST_ES_PORT)


@pytest.fixture
def settings(es_url: str, tmp_path: Path) -> Settings:
    """Settings for one test: its own index prefix; egress allowed to loopback servers only."""
    return replace(
        Settings.from_env({}),
        es_url=es_url,
        index_prefix=f"mmtest-{uuid.uuid4().hex[:8]}",
        egress_allow=(ipaddress.ip_network("127.0.0.0/8"),),
        home=tmp_path / "home",
        extract_workers=1,
    )


@pytest.fixture
def es(settings: Settings) -> Iterator[Elasticsearch]:
    """A client with this test's templates installed; its indices are deleted afterwards."""
    client = store.connect(settings)
    names = store.IndexNames(settings.index_prefix)
    store.install_templates(client, names)
    yield client
    store.delete_all(client, names)
    client.close()


# -- a real local HTTP server -----------------------------------------------------------

from pytest_httpserver import HTTPServer  # noqa: E402


@pytest.fixture(scope="session")
def make_httpserver() -> Iterator[HTTPServer]:
    """pytest-httpserver's server, threaded like real sites: one slow page must not hold up
    the others. Bound to 127.0.0.1 only."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()
