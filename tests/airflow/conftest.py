"""A real Airflow for the DAG tests: a temporary AIRFLOW_HOME with a SQLite metadata database.

Airflow reads its configuration when it is first imported, so the environment is set here, at
collection, before any test module imports `airflow`. Without Airflow installed
(`pip install mediamon[airflow]`) every test in this folder is skipped, and says why.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.config import Settings

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
HAVE_AIRFLOW = importlib.util.find_spec("airflow") is not None

if HAVE_AIRFLOW and "airflow" not in sys.modules:
    _home = Path(tempfile.mkdtemp(prefix="mediamon-airflow-"))
    atexit.register(shutil.rmtree, _home, ignore_errors=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(_home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(_home / "logs"),
        }
    )
elif HAVE_AIRFLOW:  # imported already (another conftest): the tests cannot isolate it
    raise RuntimeError("airflow was imported before tests/airflow/conftest.py could set it up")


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """`airflow db migrate` into the temporary home (once per session); returns the home."""
    home = Path(os.environ["AIRFLOW_HOME"])
    airflow = Path(sys.executable).parent / "airflow"
    result = subprocess.run(
        [str(airflow), "db", "migrate"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    from airflow.models.pool import Pool

    Pool.create_or_update_pool(
        "mediamon_fetch", slots=4, description="mediamon tests", include_deferred=False
    )
    return home


@pytest.fixture
def airflow_env(
    airflow_db: Path, es_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """The connection and Variables a DAG run reads, pointing at this test's index prefix."""
    connection = {"conn_type": "elasticsearch", "host": es_url}
    env = {
        "AIRFLOW_CONN_ELASTICSEARCH_DEFAULT": json.dumps(connection),
        "AIRFLOW_VAR_MEDIAMON_INDEX_PREFIX": settings.index_prefix,
        "MEDIAMON_EGRESS_ALLOW": "127.0.0.1/32",
        "MEDIAMON_EXTRACT_WORKERS": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env
