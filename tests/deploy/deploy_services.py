"""The services of a deployment, started natively for `make test-deploy` (README, "Deploy").

Postgres and Redis come from Debian packages (`.ci/run` installs them); Airflow is the one in
this venv, started with the `airflow` command as the official image does; Elasticsearch is
the tests' embedded node. Every service binds 127.0.0.1 on a port the kernel hands out, runs
in a session of its own, and is stopped, with every process of that session, at the end.
Postgres refuses to run as root: as root it runs as the `postgres` user on a private folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from glob import glob
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def debian_binary(name: str, package: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"))), None
    )
    if not found:
        pytest.fail(f"{name} not found: install the Debian package {package} (.ci/run does)")
    return found


# -- processes ---------------------------------------------------------------------------------


@dataclass
class Service:
    """A process started in a session of its own, so that it and all it starts stop together."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """`sig` to every process of the session (the service and everything it started)."""
        for pid in session_members(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        # Whatever is left of the session (a task's extraction workers, a Celery child) goes too.
        deadline = time.monotonic() + 15
        while session_members(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        self.kill(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


def session_members(sid: int) -> list[int]:
    """The live processes of session `sid` (zombies excluded)."""
    members = []
    for stat in glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(") ", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # state, ppid, pgrp, session
            members.append(int(stat.split("/")[2]))
    return members


def start(name: str, argv: list[str], env: dict[str, str], logs: Path, **kw: Any) -> Service:
    log = logs / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, **kw,
        )  # fmt: skip
    return Service(name, process, log)


# -- Postgres and Redis ------------------------------------------------------------------------


@dataclass
class Postgres:
    port: int
    data: Path

    def url(self, database: str, driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        psql = debian_binary("psql", "postgresql-client")
        subprocess.run(
            [psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-q",
             "-c", f"CREATE DATABASE {name}"],
            check=True, capture_output=True,
        )  # fmt: skip

    def query(self, database: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        import psycopg2

        with contextlib.closing(psycopg2.connect(self.url(database, "postgresql"))) as db:
            db.autocommit = True
            with db.cursor() as cursor:
                cursor.execute(sql, args)
                return list(cursor.fetchall())


def as_postgres_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    initdb, pg_ctl = debian_binary("initdb", "postgresql"), debian_binary("pg_ctl", "postgresql")
    data = Path(tempfile.mkdtemp(prefix="mediamon-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    subprocess.run(
        as_postgres_user([initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {data}"
    subprocess.run(
        as_postgres_user([pg_ctl, "-D", str(data), "-l", str(data / "server.log"), "-o", options,
                          "-w", "start"]),
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield Postgres(port, data)
    finally:
        subprocess.run(
            as_postgres_user([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
            check=False, capture_output=True,
        )  # fmt: skip
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = debian_binary("redis-server", "redis-server")
    port, logs = free_port(), tmp_path_factory.mktemp("redis")
    argv = [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    redis = start("redis", argv, dict(os.environ), logs, cwd=logs)
    try:
        wait_for("redis", lambda: b"+PONG" in _redis_ping(port), timeout=30, every=0.2)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        redis.stop()


def _redis_ping(port: int) -> bytes:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64)
    except OSError:
        return b""


# -- the news site and the webhook receiver ---------------------------------------------------


class NewsSite(ThreadingHTTPServer):
    """Feeds and article pages generated by the test (`pages`: path -> (html, delay))."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up
            super().handle_error(request, client_address)

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SiteHandler)
        self.pages: dict[str, tuple[bytes, str, float]] = {}
        self.fetched: list[str] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def put(self, path: str, body: str, content_type: str, delay: float = 0.0) -> None:
        self.pages[path] = (body.encode(), content_type, delay)


class _SiteHandler(BaseHTTPRequestHandler):
    server: NewsSite

    def do_GET(self) -> None:
        found = self.server.pages.get(self.path)
        self.server.fetched.append(self.path)
        if found is None:
            self.send_response(404)
            self.end_headers()
            return
        body, content_type, delay = found
        time.sleep(delay)
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class WebhookReceiver(ThreadingHTTPServer):
    """A real webhook endpoint: keeps every JSON body POSTed to it."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HookHandler)
        self.received: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _HookHandler(BaseHTTPRequestHandler):
    server: WebhookReceiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def news_site() -> Iterator[NewsSite]:
    site = NewsSite()
    with serving(site):
        yield site


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    with serving(receiver):
        yield receiver


# -- Airflow ----------------------------------------------------------------------------------


@dataclass
class Airflow:
    """One Airflow deployment: its home, metadata database, settings and running services."""

    home: Path
    database: str
    env: dict[str, str]
    postgres: Postgres
    services: list[Service] = field(default_factory=list)

    def cli(self, *args: str, timeout: float = 600) -> str:
        result = subprocess.run(
            [str(BIN / "airflow"), *args], env=self.env, capture_output=True, text=True,
            timeout=timeout, check=False, cwd=self.home,
        )  # fmt: skip
        assert result.returncode == 0, f"airflow {' '.join(args)}:\n{result.stderr[-4000:]}"
        return result.stdout

    def start(self, name: str, *args: str, **env: str) -> Service:
        service = start(
            name, [str(BIN / "airflow"), *args], {**self.env, **env}, self.home, cwd=self.home
        )
        self.services.append(service)
        return service

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return self.postgres.query(self.database, sql, *args)

    def check_alive(self) -> None:
        for service in self.services:
            assert service.alive() or service.name.startswith("killed-"), (
                f"{service.name} exited:\n{service.tail()}"
            )

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()
        leftovers = [s.name for s in self.services if session_members(s.process.pid)]
        assert not leftovers, f"processes left behind by {leftovers}"


def airflow_env(
    home: Path, executor: str, postgres: Postgres, database: str, broker: str, es_url: str,
    extra: dict[str, str],
) -> dict[str, str]:  # fmt: skip
    """The compose file's `AIRFLOW__*` settings, with loopback addresses and free ports."""
    api = free_port()
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "MEDIAMON_", "ES_"))
    }  # fmt: skip
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
            ),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url(database),
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + postgres.url(database, "postgresql"),
            "AIRFLOW__CELERY__BROKER_URL": broker,
            "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api}/execution/",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "false",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
            "AIRFLOW__SECRETS__USE_CACHE": "true",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW_CONN_ELASTICSEARCH_DEFAULT": json.dumps(
                {"conn_type": "elasticsearch", "host": es_url}
            ),
            "PYTHONPATH": str(home),  # deploy_hostname.py: which Celery worker ran a task
        }
    )
    env.update(extra)
    return env


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


# A task instance records its worker's hostname; both Celery workers run on this machine, so
# each one names itself with this callable ([core] hostname_callable) from its environment.
HOSTNAME_MODULE = """
import os, socket

def name():
    return os.environ.get("DEPLOY_WORKER_NAME") or socket.getfqdn()
"""


@pytest.fixture
def deployment(postgres: Postgres, tmp_path: Path) -> Iterator[Callable[..., Airflow]]:
    """`deployment(executor, broker, es_url, **extra_env)`: a migrated, not yet started Airflow."""
    made: list[Airflow] = []

    def make(executor: str, broker: str, es_url: str, extra: dict[str, str]) -> Airflow:
        home = tmp_path / f"airflow-{executor.lower()}"
        home.mkdir()
        (home / "deploy_hostname.py").write_text(HOSTNAME_MODULE, encoding="utf-8")
        database = f"airflow_{executor.lower()}_{secrets.token_hex(3)}"
        postgres.create_database(database)
        env = airflow_env(home, executor, postgres, database, broker, es_url, extra)
        env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = "deploy_hostname.name"
        airflow = Airflow(home, database, env, postgres)
        made.append(airflow)
        return airflow

    try:
        yield make
    finally:
        for airflow in made:
            airflow.stop()
