"""The mediamon exception tree.

    MediamonError
    ├── ConfigError          a bad feeds/rules file or setting: the user must fix it; never retried
    ├── FetchError           one URL could not be fetched; carries `reason` and `transient`
    │   ├── TransientFetchError   timeouts, 5xx, 429, connection failures, a host backing off:
    │   │                         worth retrying later (`retry_after`: not before then)
    │   └── PermanentFetchError   404, not HTML, too large, robots, egress refused: skip, record why
    ├── ExtractionError      a page was fetched but yielded no article text (permanent)
    ├── StoreError           Elasticsearch refused or failed an operation (transient if it is away)
    ├── RunInterrupted       a run stopped by SIGINT or SIGTERM, its report stored
    └── EmbeddedError        the local Elasticsearch could not be set up, started or stopped

Every error that makes the pipeline skip an item has a short `reason` (``http_404``,
``timeout``, ``not_html`` ...) under which the run report counts it. Errors are plain
picklable exceptions so that Airflow and process pools can carry them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class MediamonError(Exception):
    """Base class of every error mediamon raises on purpose."""


class ConfigError(MediamonError):
    """A configuration file or setting is wrong; the message names the file and the item."""


class FetchError(MediamonError):
    """An outbound request failed. `reason` is the short code counted in run reports."""

    transient = False
    # When the host may be asked again (a Retry-After, or this client pausing the host); only
    # a TransientFetchError carries one.
    retry_after: datetime | None = None

    def __init__(self, reason: str, url: str, detail: str = "") -> None:
        self.reason = reason
        self.url = url
        self.detail = detail
        super().__init__(reason, url, detail)

    def __str__(self) -> str:
        suffix = f": {self.detail}" if self.detail else ""
        return f"{self.reason} fetching {self.url}{suffix}"


class TransientFetchError(FetchError):
    """Worth trying again later (timeout, connection refused, 5xx, 429, a host backing off).

    `retry_after` is the earliest time worth trying again, when the server or the client said.
    """

    transient = True

    def __init__(
        self, reason: str, url: str, detail: str = "", *, retry_after: datetime | None = None
    ) -> None:
        super().__init__(reason, url, detail)
        self.retry_after = retry_after


class PermanentFetchError(FetchError):
    """Trying again will not help (404, not HTML, too large, robots.txt, egress refused)."""


class ExtractionError(MediamonError):
    """The page was fetched, but no article text could be extracted from it."""

    def __init__(self, reason: str, url: str) -> None:
        self.reason = reason
        self.url = url
        super().__init__(reason, url)

    def __str__(self) -> str:
        return f"{self.reason} extracting {self.url}"


class StoreError(MediamonError):
    """Elasticsearch failed an operation. `transient` is true when it is unreachable or busy
    (`ingest.store.boundary`); `reason` is the short code counted in run reports."""

    def __init__(self, message: str, *, transient: bool = False, reason: str = "store") -> None:
        self.transient = transient
        self.reason = reason
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:  # picklable with its keyword arguments
        return (_store_error, (str(self), self.transient, self.reason))


def _store_error(message: str, transient: bool, reason: str) -> StoreError:
    return StoreError(message, transient=transient, reason=reason)


class RunInterrupted(MediamonError):
    """A run stopped early because it was asked to (SIGINT, SIGTERM), its report stored as
    interrupted. The message is the one line to show; `exit_status` is the shell's 128 + n."""

    def __init__(self, message: str, signal_number: int) -> None:
        self.signal_number = signal_number
        super().__init__(message, signal_number)

    def __str__(self) -> str:
        return str(self.args[0])

    @property
    def exit_status(self) -> int:
        return 128 + self.signal_number


class EmbeddedError(MediamonError):
    """The embedded Elasticsearch could not be installed, started or stopped."""
