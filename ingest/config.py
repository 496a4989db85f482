"""Settings: the one place that reads the environment, and the reader of YAML files.

Everything else takes a `Settings` (or the part of it that it needs) as an argument, so a
test, the CLI and an Airflow task can each build their own without touching globals. What
is read from the environment outside `Settings` is read here too: `environment()` (the
mapping, for settings made elsewhere, e.g. alert delivery) and
`mmap_threshold_set_by_operator()` (for `ingest.malloc`). `load_yaml_list` reads the YAML
files that hold a list under a key (the feeds file, the rules file, the demo corpus).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import yaml

from ingest.errors import ConfigError

# The repository's root. The index templates, the Kibana objects and the demo's corpus live
# beside the package, not in it (the image copies the repository and installs it in place).
REPOSITORY = Path(__file__).resolve().parent.parent

DEFAULT_ES_PORT = 9200
DEFAULT_USER_AGENT = "mediamon/0.1 (news monitoring; +https://github.com/mediamon/mediamon)"


@dataclass(frozen=True)
class FetchLimits:
    """Politeness and safety bounds for every outbound request."""

    concurrency: int = 16
    per_host: int = 4
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    deadline: float = 60.0  # wall clock for one response, whatever the server trickles
    max_bytes: int = 10 * 1024 * 1024  # decoded body size
    max_redirects: int = 5
    user_agent: str = DEFAULT_USER_AGENT
    # Politeness towards one host (ingest/fetch/client.py); seconds.
    max_crawl_delay: float = 30.0  # a larger robots.txt Crawl-delay is clamped to this
    max_retry_after_wait: float = 60.0  # a longer Retry-After fails requests fast instead
    host_failure_limit: int = 5  # consecutive transient failures before a host is paused
    host_failure_cooldown: float = 60.0  # the first pause; doubles while the host keeps failing


@dataclass(frozen=True)
class RolloverLimits:
    """When the write index is full and the next one starts: whichever comes first.

    Defaults after Elastic's shard sizing guidance (shards of 10-50 GB, at most ~200
    million documents) and its default rollover policy (50 GB or 30 days). Age bounds what
    retention can drop whole (see `ingest.maintenance`). Used by `ingest.store`.
    """

    max_size: str = "50gb"  # primary store size (one shard, so: the shard's size)
    max_docs: int = 20_000_000
    max_age: str = "30d"

    def conditions(self) -> dict[str, object]:
        return {"max_size": self.max_size, "max_docs": self.max_docs, "max_age": self.max_age}


@dataclass(frozen=True)
class Settings:
    """Run-time configuration. Build it with `Settings.from_env()` or directly in tests."""

    es_url: str = f"http://127.0.0.1:{DEFAULT_ES_PORT}"
    es_username: str | None = None
    es_password: str | None = field(default=None, repr=False)
    es_api_key: str | None = field(default=None, repr=False)
    index_prefix: str = "mediamon"
    # Networks that the egress guard lets through although they are private/loopback.
    egress_allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    fetch: FetchLimits = FetchLimits()
    # Where the embedded Elasticsearch keeps its jars, data and logs.
    home: Path = Path.home() / ".local" / "share" / "mediamon"
    batch_size: int = 200  # entries looked up, fetched and indexed together
    extract_workers: int = 0  # processes for extraction; 0 = one per CPU core
    rollover: RolloverLimits = RolloverLimits()  # when the next article index starts
    # How long a run's hold on the feeds it polls lasts unless renewed (it is, every third
    # of it, while the run lives): a run that died frees its feeds this long after.
    feed_lease_seconds: int = 90

    def __post_init__(self) -> None:
        # `https://user:password@host` is a common way to write ES_URL. The URL is shown in
        # messages and logs, so its credentials move to the fields that are never shown
        # (explicit ES_USERNAME/ES_PASSWORD win).
        url, username, password = _split_credentials(self.es_url)
        if url != self.es_url:
            object.__setattr__(self, "es_url", url)
            if self.es_username is None and self.es_api_key is None:
                object.__setattr__(self, "es_username", username)
                object.__setattr__(self, "es_password", password)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read `ES_URL`, `ES_USERNAME`, `ES_PASSWORD`, `ES_API_KEY` and `MEDIAMON_*`."""
        env = os.environ if environ is None else environ
        settings = cls()
        values: dict[str, object] = {}
        if env.get("ES_URL"):
            values["es_url"] = env["ES_URL"]
        for key in ("ES_USERNAME", "ES_PASSWORD", "ES_API_KEY"):
            if env.get(key):
                values[key.lower()] = env[key]
        if env.get("MEDIAMON_INDEX_PREFIX"):
            values["index_prefix"] = env["MEDIAMON_INDEX_PREFIX"]
        if env.get("MEDIAMON_EGRESS_ALLOW"):
            values["egress_allow"] = parse_cidrs(env["MEDIAMON_EGRESS_ALLOW"])
        if env.get("MEDIAMON_HOME"):
            values["home"] = Path(env["MEDIAMON_HOME"])
        if env.get("MEDIAMON_BATCH_SIZE"):
            values["batch_size"] = _positive_int("MEDIAMON_BATCH_SIZE", env["MEDIAMON_BATCH_SIZE"])
        if env.get("MEDIAMON_EXTRACT_WORKERS"):
            values["extract_workers"] = _positive_int(
                "MEDIAMON_EXTRACT_WORKERS", env["MEDIAMON_EXTRACT_WORKERS"]
            )
        if env.get("MEDIAMON_FEED_LEASE_SECONDS"):
            values["feed_lease_seconds"] = _positive_int(
                "MEDIAMON_FEED_LEASE_SECONDS", env["MEDIAMON_FEED_LEASE_SECONDS"]
            )
        values["rollover"] = _rollover_limits(env, settings.rollover)
        fetch = settings.fetch
        if env.get("MEDIAMON_CONCURRENCY"):
            n = _positive_int("MEDIAMON_CONCURRENCY", env["MEDIAMON_CONCURRENCY"])
            fetch = replace(fetch, concurrency=n)
        if env.get("MEDIAMON_PER_HOST"):
            fetch = replace(
                fetch, per_host=_positive_int("MEDIAMON_PER_HOST", env["MEDIAMON_PER_HOST"])
            )
        values["fetch"] = fetch
        values.update(overrides)
        return replace(settings, **values)  # type: ignore[arg-type]


def environment() -> Mapping[str, str]:
    """The process environment, for what reads its own variables from it: alert delivery
    (`MEDIAMON_SMTP_*`, `MEDIAMON_SECRET_*`, `DeliverySettings.from_env`), `JAVA_HOME` and
    the environment of the embedded Elasticsearch's launcher (`ingest.embedded`)."""
    return os.environ


def _split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """`url` without its user:password part, and the (percent-decoded) user and password."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    host = parts.netloc.rpartition("@")[2]
    bare = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return bare, user, password


def parse_cidrs(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Parse a comma-separated list of CIDRs (a bare address is a /32 or /128)."""
    networks = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise ConfigError(f"MEDIAMON_EGRESS_ALLOW: {part!r} is not a CIDR ({exc})") from None
    return tuple(networks)


_SIZE = re.compile(r"^\d+(b|kb|mb|gb|tb|pb)$")
_AGE = re.compile(r"^\d+(d|h|m|s|ms)$")


def _rollover_limits(env: Mapping[str, str], limits: RolloverLimits) -> RolloverLimits:
    """`MEDIAMON_ROLLOVER_MAX_SIZE` (50gb), `_MAX_DOCS` (20000000), `_MAX_AGE` (30d)."""
    values: dict[str, object] = {}
    for key, pattern in (("MAX_SIZE", _SIZE), ("MAX_AGE", _AGE)):
        text = env.get(f"MEDIAMON_ROLLOVER_{key}", "").strip().lower()
        if text and not pattern.match(text):
            example = "50gb" if key == "MAX_SIZE" else "30d"
            raise ConfigError(f"MEDIAMON_ROLLOVER_{key}: {text!r} is not like {example!r}")
        if text:
            values[key.lower()] = text
    if env.get("MEDIAMON_ROLLOVER_MAX_DOCS"):
        values["max_docs"] = _positive_int(
            "MEDIAMON_ROLLOVER_MAX_DOCS", env["MEDIAMON_ROLLOVER_MAX_DOCS"]
        )
    return replace(limits, **values)  # type: ignore[arg-type]


def _positive_int(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name}: {text!r} is not a whole number") from None
    if value < 1:
        raise ConfigError(f"{name}: must be at least 1, got {value}")
    return value


def mmap_threshold_set_by_operator() -> bool:
    """Whether the environment sets glibc's mmap threshold (`MALLOC_MMAP_THRESHOLD_`), which
    `ingest.malloc` then leaves alone."""
    return "MALLOC_MMAP_THRESHOLD_" in os.environ


def load_yaml_list(path: Path, key: str, what: str) -> tuple[list[Any], dict[str, Any]]:
    """The list under `key` of the YAML mapping in `path`, and the whole mapping (for its
    other keys). `what` names the file in errors ("the feeds file"); every error is a
    `ConfigError` that starts with the path."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise ConfigError(f"{path}: expected a mapping with a list under {key!r}")
    return data[key], data
