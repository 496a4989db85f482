"""A real single-node Elasticsearch on 127.0.0.1 for zero-setup use, the demo and the tests.

Why Elasticsearch 7.10.2: these machines reach Maven Central but no other download site.
On Maven Central the codelibs cluster runner stops at 7.10.2.0 (8.14.1.0 is not published
there), and Elastic publishes no 8.x percolator, analysis-common or painless module
artifacts, which mediamon needs for alerts and per-language analysis. 7.10.2 is the last
Apache-2.0 release, and every module it needs is on Maven Central. Production runs the
official 8.x images (docker-compose.yml); the Python client is the same 8.x client for both,
talking to this node through `ingest.store.Es7CompatNode`.

Layout under `home` (``Settings.home``)::

    es/pom.xml        the Maven recipe that resolves the runner and its modules
    es/lib/           the resolved jars (about 36 MB, 82 files)
    es/node/          the node's base path: config, data (kept between starts), logs
    es/es.pid         pid of the running node
    es/es.log         its console output
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.config import environment
from ingest.errors import EmbeddedError

ES_VERSION = "7.10.2"
RUNNER = ("org.codelibs", "elasticsearch-cluster-runner", "7.10.2.0")
MAIN_CLASS = "org.codelibs.elasticsearch.runner.ElasticsearchClusterRunner"
DEFAULT_HEAP = "1g"
START_TIMEOUT = 180.0
# The runner's command line cannot raise its highest HTTP port (it asks for "The http port
# N is unavailable" above it), so ports past this one are refused before Java starts.
MAX_PORT = 9299

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>mediamon</groupId>
  <artifactId>embedded-elasticsearch</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>{group}</groupId>
      <artifactId>{artifact}</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""

# Written before the first start; the runner keeps an existing elasticsearch.yml.
NODE_CONFIG = """# Written by mediamon (ingest/embedded.py).
# Loopback only: this node has no security.
network.host: 127.0.0.1
http.port: {http_port}
transport.port: {transport_port}
discovery.type: single-node
# A laptop or CI disk that is nearly full must not turn the indices read-only mid-test.
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
"""


@dataclass(frozen=True)
class EmbeddedStatus:
    running: bool
    url: str
    pid: int | None
    version: str | None
    message: str


def es_dir(home: Path) -> Path:
    return home / "es"


def install(home: Path) -> Path:
    """Resolve the Elasticsearch jars with Maven into `home/es/lib` (once); return that folder."""
    root = es_dir(home)
    lib = root / "lib"
    marker = lib / ".complete"
    if marker.exists():
        return lib
    _require_tool("mvn", "Maven (Debian: apt-get install maven)")
    root.mkdir(parents=True, exist_ok=True)
    group, artifact, version = RUNNER
    (root / "pom.xml").write_text(POM.format(group=group, artifact=artifact, version=version))
    command = [
        "mvn",
        "-B",
        "-q",
        "-f",
        str(root / "pom.xml"),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={lib}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise EmbeddedError(
            f"Maven could not resolve {':'.join(RUNNER)} (exit {result.returncode}):\n"
            + (result.stdout + result.stderr)[-2000:]
        )
    marker.write_text(ES_VERSION)
    return lib


def start(home: Path, port: int = 9200, heap: str = DEFAULT_HEAP) -> EmbeddedStatus:
    """Start the node (installing it first if needed), or reuse the one already running.

    Two callers at once (two test sessions, a demo and a test) must not both start a node
    on one data folder: the second waits on a file lock, then finds the first one's node.
    """
    if not 1024 < port <= MAX_PORT:
        raise EmbeddedError(
            f"the embedded node cannot serve port {port}: its runner takes ports up to"
            f" {MAX_PORT} (pick one such as 9200-{MAX_PORT})"
        )
    es_dir(home).mkdir(parents=True, exist_ok=True)
    with (es_dir(home) / "start.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _start_locked(home, port, heap)


def _start_locked(home: Path, port: int, heap: str) -> EmbeddedStatus:
    current = status(home, port)
    if current.running:
        return current
    java = _java_binary()
    lib = install(home)
    root = es_dir(home)
    node_home = root / "node" / "node_1"
    _write_node_config(node_home / "config", port)
    command = [
        java,
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-Djava.awt.headless=true",
        "-Dlog4j2.formatMsgNoLookups=true",
        "-cp",
        str(lib / "*"),
        MAIN_CLASS,
        # The runner names its node folder node_1 and serves HTTP on baseHttpPort + 1.
        "-basePath",
        str(root / "node"),
        "-numOfNode",
        "1",
        "-baseHttpPort",
        str(port - 1),
        "-clusterName",
        "mediamon-embedded",
    ]
    pid = _spawn_detached(command, root / "es.log")
    (root / "es.pid").write_text(str(pid))
    return _wait_until_up(home, port, pid)


def _spawn_detached(command: list[str], log: Path) -> int:
    """Start `command` in its own session, re-parented to init; return its pid.

    A short-lived shell starts it in the background, so the node outlives the CLI or test
    run that started it and never lingers as our zombie child.
    """
    launcher = subprocess.run(
        ["sh", "-c", '"$@" >>"$MEDIAMON_ES_LOG" 2>&1 </dev/null & echo $!', "sh", *command],
        env={**environment(), "MEDIAMON_ES_LOG": str(log)},
        capture_output=True,
        text=True,
        start_new_session=True,
        check=True,
    )
    return int(launcher.stdout.strip())


def stop(home: Path, port: int = 9200, timeout: float = 60.0) -> EmbeddedStatus:
    """Stop the node started from `home`; data stays for the next start."""
    pid = _read_pid(home)
    if pid is None or not _alive(pid):
        _pid_file(home).unlink(missing_ok=True)
        return status(home, port)
    os.kill(pid, signal.SIGTERM)  # the runner's shutdown hook closes the node cleanly
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    _pid_file(home).unlink(missing_ok=True)
    return status(home, port)


def status(home: Path, port: int = 9200) -> EmbeddedStatus:
    """Whether an Elasticsearch answers on 127.0.0.1:`port`, and which pid we started."""
    url = f"http://127.0.0.1:{port}"
    pid = _read_pid(home)
    pid = pid if pid is not None and _alive(pid) else None
    info = _root_info(url)
    if info is None:
        return EmbeddedStatus(False, url, pid, None, f"no Elasticsearch answers at {url}")
    version = info.get("version", {}).get("number")
    return EmbeddedStatus(True, url, pid, version, f"Elasticsearch {version} at {url}")


def _wait_until_up(home: Path, port: int, pid: int) -> EmbeddedStatus:
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not _alive(pid):
            raise EmbeddedError(
                "Elasticsearch exited while starting; "
                f"last lines of {es_dir(home) / 'es.log'}:\n{_tail(es_dir(home) / 'es.log')}"
            )
        health = _get_json(f"{url}/_cluster/health?wait_for_status=yellow&timeout=1s")
        if health and health.get("status") in ("green", "yellow"):
            return status(home, port)
        time.sleep(0.5)
    raise EmbeddedError(
        f"Elasticsearch did not become healthy at {url} within {START_TIMEOUT:.0f} s; "
        f"see {es_dir(home) / 'es.log'}"
    )


def _write_node_config(config_dir: Path, port: int) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    # Transport port derived from the HTTP port, so two nodes (demo and tests) can coexist.
    text = NODE_CONFIG.format(http_port=port, transport_port=port + 100)
    (config_dir / "elasticsearch.yml").write_text(text)


def _java_binary() -> str:
    java_home = environment().get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    return _require_tool("java", "Java 17 (Debian: apt-get install openjdk-17-jre-headless)")


def _require_tool(name: str, what: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise EmbeddedError(f"`{name}` is not on PATH: install {what} to run the embedded node")
    return path


def _root_info(url: str) -> dict[str, Any] | None:
    return _get_json(url)


def _get_json(url: str) -> dict[str, Any] | None:
    # urllib rather than the project's HTTP client: this is our own loopback node, and the
    # egress guard rightly refuses loopback.
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            data: dict[str, Any] = json.load(response)
            return data
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _pid_file(home: Path) -> Path:
    return es_dir(home) / "es.pid"


def _read_pid(home: Path) -> int | None:
    try:
        return int(_pid_file(home).read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
