"""Notification targets of alert rules: webhook (JSON or Slack), e-mail (SMTP) and log.

A rule's `notify` list holds targets; each target delivers one message per alert, or with
`digest: true` one message per rule per run listing every new alert. An alert of a story
shows its first article, then how many outlets carried it (each story once, in a digest
too); a spike alert shows what changed that day (`ingest.alerts.explanation`). `Notifier.send` makes
one delivery with retries and exponential backoff (tenacity) and raises a `FetchError` when
it finally fails: `TransientFetchError` (the alert stays pending, the next run retries it) or
`PermanentFetchError` (the alert is marked failed). Reasons are short codes counted in the
run report as `notify:<reason>`: the `ingest.fetch.client` reasons for webhooks, and for e-mail
`smtp_not_configured`, `smtp_auth`, `smtp_recipients_refused`, `smtp_<code>`,
`smtp_disconnected`, `connect_error`, `timeout`, `dns_error`, `egress_refused`; for both
`secret_missing`.

Webhooks go through `HttpClient` (the egress guard, timeouts, size caps); the SMTP host is
checked with `ingest.fetch.egress.check_egress` and the connection opened to the checked address.

Credentials never leave this module: webhook URLs and secrets may be written as references,
``${MEDIAMON_SECRET_NAME}``, resolved from `DeliverySettings.secrets` only when sending; the
rule documents and alert documents keep the reference. Error messages name a target by its
type and host, never its URL, and every message is passed through `redact` before it is
stored or logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any, Protocol
from urllib.parse import urlsplit

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from ingest.alerts.explanation import explanation_lines
from ingest.errors import ConfigError, FetchError, PermanentFetchError, TransientFetchError
from ingest.fetch.client import HttpClient
from ingest.fetch.egress import Network, check_egress
from ingest.models import AlertHit

__all__ = [
    "DeliverySettings",
    "Notifier",
    "SmtpSettings",
    "Target",
    "parse_targets",
    "redact",
]

log = logging.getLogger("mediamon.alerts")

TARGET_TYPES = ("webhook", "email", "log")
TARGET_KEYS = {
    "webhook": {"type", "name", "digest", "url", "format", "secret", "secret_header"},
    "email": {"type", "name", "digest", "to", "subject_prefix"},
    "log": {"type", "name", "digest"},
}
SECRET_PREFIX = "MEDIAMON_SECRET_"
_REFERENCE = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]+$")
SMTP_SECURITY = ("starttls", "ssl", "none")
TITLE_WIDTH = 300


# -- settings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpSettings:
    """Where e-mail goes out. From `MEDIAMON_SMTP_*` or an Airflow connection (`smtp_default`)."""

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "mediamon@localhost"
    security: str = "starttls"  # starttls, ssl (implicit TLS, port 465) or none
    timeout: float = 20.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SmtpSettings | None:
        """`MEDIAMON_SMTP_HOST` (unset: no e-mail), `_PORT`, `_USERNAME`, `_PASSWORD`, `_FROM`,
        `_SECURITY`. The caller passes the environment (the CLI and the Airflow task do)."""
        host = environ.get("MEDIAMON_SMTP_HOST", "").strip()
        if not host:
            return None
        security = environ.get("MEDIAMON_SMTP_SECURITY", "starttls").strip().lower()
        port_text = environ.get("MEDIAMON_SMTP_PORT", "465" if security == "ssl" else "587")
        return cls._checked(
            host=host,
            port=port_text,
            username=environ.get("MEDIAMON_SMTP_USERNAME") or None,
            password=environ.get("MEDIAMON_SMTP_PASSWORD") or None,
            sender=environ.get("MEDIAMON_SMTP_FROM") or cls.sender,
            security=security,
            origin="MEDIAMON_SMTP_*",
        )

    @classmethod
    def from_connection(cls, connection: Any) -> SmtpSettings:
        """From an Airflow SMTP connection: host, port, login, password; extra `from` and
        `security` (or the smtp provider's `disable_ssl`/`disable_tls`)."""
        extra = dict(getattr(connection, "extra_dejson", None) or {})
        if extra.get("disable_tls") and extra.get("disable_ssl", True):
            default_security = "none"
        elif extra.get("disable_ssl") is False:
            default_security = "ssl"
        else:
            default_security = "starttls"
        security = str(extra.get("security") or default_security).lower()
        return cls._checked(
            host=(connection.host or "").strip(),
            port=str(connection.port or (465 if security == "ssl" else 587)),
            username=connection.login or None,
            password=connection.password or None,
            sender=str(extra.get("from") or extra.get("from_email") or cls.sender),
            security=security,
            origin="the SMTP connection",
        )

    @classmethod
    def _checked(cls, *, port: str, security: str, origin: str, **values: Any) -> SmtpSettings:
        if not values["host"]:
            raise ConfigError(f"{origin}: no SMTP host")
        if security not in SMTP_SECURITY:
            raise ConfigError(f"{origin}: security {security!r} is not one of {SMTP_SECURITY}")
        try:
            port_number = int(port)
        except ValueError:
            raise ConfigError(f"{origin}: SMTP port {port!r} is not a number") from None
        return cls(port=port_number, security=security, **values)


@dataclass(frozen=True)
class DeliverySettings:
    """How alerts are delivered: SMTP, the secrets references resolve to, retry policy.

    `attempts` tries per delivery within one run, waiting `backoff`, 2×, 4× … seconds (at
    most `max_backoff`); after that the alert stays pending for the next run. `lease` is how
    long a run may hold pending alerts it is delivering before another run may take them.
    """

    smtp: SmtpSettings | None = None
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    attempts: int = 3
    backoff: float = 1.0
    max_backoff: float = 30.0
    lease: timedelta = timedelta(minutes=10)
    max_alerts_per_run: int = 10_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> DeliverySettings:
        """SMTP from `MEDIAMON_SMTP_*`; secrets: every `MEDIAMON_SECRET_*` variable."""
        secrets = {k: v for k, v in environ.items() if k.startswith(SECRET_PREFIX)}
        values: dict[str, Any] = {"smtp": SmtpSettings.from_env(environ), "secrets": secrets}
        values.update(overrides)
        return cls(**values)

    def secret_values(self) -> list[str]:
        values = [v for v in self.secrets.values() if v]
        if self.smtp and self.smtp.password:
            values.append(self.smtp.password)
        return values


# -- targets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One notify target of a rule, as written in the rules file (references unresolved)."""

    type: str  # webhook, email, log
    key: str  # `name`, else type and a hash of the settings: stable when the list is reordered
    digest: bool = False
    url: str = ""
    format: str = "json"  # webhook payload: json, or slack (an incoming-webhook message)
    secret: str = ""  # webhook: sent in `secret_header`
    secret_header: str = "X-Mediamon-Secret"
    to: tuple[str, ...] = ()
    subject_prefix: str = "[mediamon]"

    def to_spec(self) -> dict[str, Any]:
        """The form stored on the rule document (the references, never their values)."""
        spec: dict[str, Any] = {"type": self.type, "key": self.key, "digest": self.digest}
        if self.type == "webhook":
            spec.update(url=self.url, format=self.format, secret=self.secret,
                        secret_header=self.secret_header)  # fmt: skip
        elif self.type == "email":
            spec.update(to=list(self.to), subject_prefix=self.subject_prefix)
        return spec

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Target:
        values = dict(spec)
        values["to"] = tuple(values.get("to", ()))
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})

    def label(self) -> str:
        """How messages name this target: its type and host, never a URL with its path."""
        if self.type == "webhook":
            parts = urlsplit(self.url)
            host = parts.hostname if parts.hostname and "${" not in parts.netloc else None
            return f"webhook {self.key}" + (f" ({host})" if host else "")
        if self.type == "email":
            return f"email {self.key}"
        return f"log {self.key}"


def parse_targets(items: Any, label: str) -> tuple[list[Target], list[str]]:
    """Validate a rule's `notify` list; return the targets and every problem found."""
    if items is None:
        return [Target(type="log", key="log")], []
    if not isinstance(items, list):
        return [], [f"{label}: notify must be a list of targets"]
    targets: list[Target] = []
    problems: list[str] = []
    for position, item in enumerate(items, start=1):
        where = f"{label}: notify #{position}"
        if not isinstance(item, dict) or item.get("type") not in TARGET_TYPES:
            problems.append(f"{where}: expected a mapping with type one of {TARGET_TYPES}")
            continue
        kind = item["type"]
        problems += [f"{where}: unknown key {k!r}" for k in sorted(set(item) - TARGET_KEYS[kind])]
        target, target_problems = _target(kind, item, where)
        problems += target_problems
        if target is not None:
            targets.append(target)
    keys = [t.key for t in targets]
    problems += [f"{label}: two notify targets named {k!r}" for k in sorted(set(keys))
                 if keys.count(k) > 1]  # fmt: skip
    return targets, problems


def _target(kind: str, item: Mapping[str, Any], where: str) -> tuple[Target | None, list[str]]:
    problems: list[str] = []
    values: dict[str, Any] = {"type": kind, "digest": item.get("digest", False)}
    if not isinstance(values["digest"], bool):
        problems.append(f"{where}: digest must be true or false")
    if kind == "webhook":
        values.update(_webhook_values(item, where, problems))
    elif kind == "email":
        values.update(_email_values(item, where, problems))
    name = item.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        problems.append(f"{where}: name must be a non-empty string")
    if problems:
        return None, problems
    settings = json.dumps(values, sort_keys=True, default=list)
    values["key"] = name or f"{kind}-{hashlib.sha256(settings.encode()).hexdigest()[:8]}"
    return Target(**values), []


def _webhook_values(item: Mapping[str, Any], where: str, problems: list[str]) -> dict[str, Any]:
    url, secret = item.get("url"), item.get("secret", "")
    header = item.get("secret_header", "X-Mediamon-Secret")
    fmt = item.get("format", "json")
    if not isinstance(url, str) or not url.strip():
        problems.append(f"{where}: webhook needs a url")
        url = ""
    elif not _REFERENCE.fullmatch(url.strip()) and not _is_http_url(_REFERENCE.sub("x", url)):
        problems.append(f"{where}: url is not an http(s) URL")
    if fmt not in ("json", "slack"):
        problems.append(f"{where}: format must be json or slack")
    if not isinstance(secret, str):
        problems.append(f"{where}: secret must be a string (a ${{{SECRET_PREFIX}…}} reference)")
        secret = ""
    elif secret and not _REFERENCE.fullmatch(secret):
        problems.append(
            f"{where}: secret must be a reference such as ${{{SECRET_PREFIX}WEBHOOK}}, "
            "not the secret itself"
        )
    if not isinstance(header, str) or not _HEADER_NAME.match(header):
        problems.append(f"{where}: secret_header must be an HTTP header name")
    for field_name, text in (("url", url), ("secret", secret)):
        for name in _REFERENCE.findall(text if isinstance(text, str) else ""):
            if not name.startswith(SECRET_PREFIX):
                problems.append(
                    f"{where}: {field_name} refers to ${{{name}}}; only {SECRET_PREFIX}* "
                    "variables can be referenced"
                )
    return {"url": url.strip() if isinstance(url, str) else "", "format": fmt,
            "secret": secret, "secret_header": header}  # fmt: skip


def _email_values(item: Mapping[str, Any], where: str, problems: list[str]) -> dict[str, Any]:
    to = item.get("to")
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not to or not all(isinstance(a, str) for a in to):
        problems.append(f"{where}: email needs `to`, an address or a list of addresses")
        to = []
    for address in to:
        if "@" not in parseaddr(address)[1]:
            problems.append(f"{where}: {address!r} is not an e-mail address")
    prefix = item.get("subject_prefix", "[mediamon]")
    if not isinstance(prefix, str):
        problems.append(f"{where}: subject_prefix must be a string")
    return {"to": tuple(to), "subject_prefix": prefix}


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url.strip())
    return parts.scheme in ("http", "https") and bool(parts.hostname)


# -- messages ------------------------------------------------------------------------------


def _article_line(alert: AlertHit) -> str:
    """The first article (a story's original), and for a story how many outlets carry it."""
    a = alert.article
    published = str(a.get("published_at") or "")[:10]
    line = f"{a.get('title', '')} — {a.get('source', '')}, {published} ({a.get('language', '')})"
    return line + (f" · {alert.outlets} outlets" if alert.outlets > 1 else "")


def _outlets_line(alert: AlertHit) -> str | None:
    """The other outlets of a story alert, after its original: none for a lone article."""
    story = alert.story or {}
    others = [s for s in story.get("sources") or [] if s != alert.article.get("source")]
    if not others:
        return None
    count = int(story.get("articles") or 1)
    return f"also carried by {', '.join(others)} ({count} articles in all)"


def _spike_line(alert: AlertHit) -> str:
    s = alert.spike or {}
    return (
        f"volume spike: {s.get('last_day')} matches in the last day, against a daily mean of "
        f"{s.get('daily_mean', 0):.1f} over the 14 days before (factor {s.get('factor')})"
    )


def _spike_lines(alert: AlertHit) -> list[str]:
    """The spike and what changed that day (`ingest.alerts.explanation`)."""
    why = (alert.spike or {}).get("explanation")
    return [_spike_line(alert), *explanation_lines(why)]


def _headline(alerts: Sequence[AlertHit]) -> str:
    rule = alerts[0].rule_name or alerts[0].rule_id
    if alerts[0].kind == "spike":
        return f"{rule}: {_spike_line(alerts[0])}"
    if len(alerts) == 1:
        alert = alerts[0]
        outlets = f" ({alert.outlets} outlets)" if alert.outlets > 1 else ""
        return f"{rule}: {alert.article.get('title', '')[:TITLE_WIDTH]}{outlets}"
    noun = "stories" if all(alert.per == "story" for alert in alerts) else "articles"
    return f"{rule}: {len(alerts)} new {noun}"


def _story_payload(alert: AlertHit) -> dict[str, Any] | None:
    """A story alert's counters as the JSON payload shows them (not every article id)."""
    if alert.story is None:
        return None
    return {k: v for k, v in alert.story.items() if k != "article_ids"} | {"id": alert.story_id}


def json_payload(alerts: Sequence[AlertHit], digest: bool) -> dict[str, Any]:
    """The JSON webhook body: the rule, and every alert with its article (or spike)."""
    first = alerts[0]
    return {
        "rule": {"id": first.rule_id, "name": first.rule_name, "tags": first.rule_tags},
        "kind": first.kind,
        "digest": digest,
        "text": _headline(alerts),
        "alerts": [
            {
                "id": alert.id,
                "created_at": alert.created_at.isoformat(),
                "per": alert.per if alert.kind == "match" else None,
                "article_id": alert.article_id,
                "article": alert.article or None,
                "story": _story_payload(alert),
                "spike": alert.spike,
            }
            for alert in alerts
        ],
    }


def slack_payload(alerts: Sequence[AlertHit]) -> dict[str, Any]:
    """A Slack incoming-webhook message (also understood by Mattermost, Rocket.Chat …)."""
    lines = [f"*{_slack_escape(_headline(alerts))}*"]
    for alert in alerts:
        if alert.kind == "spike":
            lines += [_slack_escape(line) for line in _spike_lines(alert)[1:]]
            continue
        url, title = alert.article.get("url", ""), _slack_escape(_article_line(alert))
        lines.append(f"• <{url}|{title}>" if url else f"• {title}")
        outlets = _outlets_line(alert)
        if outlets:
            lines.append(f"   {_slack_escape(outlets)}")
    return {"text": "\n".join(lines), "unfurl_links": False}


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def email_message(alerts: Sequence[AlertHit], target: Target, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"{target.subject_prefix} {_headline(alerts)}".strip()[:250]
    message["From"] = sender
    message["To"] = ", ".join(target.to)
    message["Date"] = formatdate(localtime=False)
    # Derived from the alerts: a message re-sent after an ambiguous failure has the same
    # Message-ID, so mail systems can drop the copy.
    message["Message-ID"] = make_msgid(idstring=_delivery_key(alerts, target), domain="mediamon")
    lines = [_headline(alerts), ""]
    for alert in alerts:
        if alert.kind == "spike":
            lines += _spike_lines(alert)
            continue
        lines += [_article_line(alert), f"  {alert.article.get('url', '')}"]
        outlets = _outlets_line(alert)
        if outlets:
            lines.append(f"  {outlets}")
        summary = " ".join(str(alert.article.get("summary") or "").split())
        if summary:
            lines.append(f"  {summary[:TITLE_WIDTH]}")
        lines.append("")
    lines.append(f"— mediamon rule {alerts[0].rule_id}")
    message.set_content("\n".join(lines))
    return message


def _delivery_key(alerts: Sequence[AlertHit], target: Target) -> str:
    ids = ",".join(sorted(alert.id for alert in alerts))
    return hashlib.sha256(f"{target.key}:{ids}".encode()).hexdigest()[:32]


# -- sending -------------------------------------------------------------------------------


class _Smtp(Protocol):
    def __call__(self, smtp: SmtpSettings, address: str, message: EmailMessage) -> None: ...


class Notifier:
    """Sends alert messages to targets; one per run, holding the run's `HttpClient`."""

    def __init__(
        self,
        http: HttpClient,
        delivery: DeliverySettings,
        egress_allow: tuple[Network, ...] = (),
    ) -> None:
        self.http = http
        self.delivery = delivery
        self.egress_allow = egress_allow

    async def send(self, target: Target, alerts: Sequence[AlertHit]) -> None:
        """Deliver one message (one alert, or a digest of several) with retries and backoff.

        Raises a `FetchError` subclass whose message is already redacted.
        """
        retrying = AsyncRetrying(
            stop=stop_after_attempt(max(1, self.delivery.attempts)),
            wait=wait_exponential(multiplier=self.delivery.backoff, max=self.delivery.max_backoff),
            retry=retry_if_exception(lambda exc: isinstance(exc, FetchError) and exc.transient),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self._send_once(target, alerts)

    async def _send_once(self, target: Target, alerts: Sequence[AlertHit]) -> None:
        try:
            if target.type == "webhook":
                await self._post(target, alerts)
            elif target.type == "email":
                await self._mail(target, alerts)
            else:
                for alert in alerts:
                    log.info("alert %s [%s]: %s", alert.id, target.key, _headline([alert]))
        except FetchError as exc:
            detail = redact(exc.detail, self._secrets())
            raise type(exc)(exc.reason, target.label(), detail) from None
        except (OSError, smtplib.SMTPException) as exc:  # not mapped below: keep it transient
            detail = redact(f"{type(exc).__name__}: {exc}", self._secrets())
            raise TransientFetchError("connect_error", target.label(), detail) from None

    def _secrets(self) -> list[str]:
        return self.delivery.secret_values()

    def _resolve(self, text: str, target: Target) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if not self.delivery.secrets.get(name):
                raise TransientFetchError("secret_missing", target.label(), f"${{{name}}} unset")
            return self.delivery.secrets[name]

        return _REFERENCE.sub(value, text)

    async def _post(self, target: Target, alerts: Sequence[AlertHit]) -> None:
        url = self._resolve(target.url, target)
        if target.format == "slack":
            payload = slack_payload(alerts)
        else:
            payload = json_payload(alerts, target.digest)
        headers = {"Idempotency-Key": _delivery_key(alerts, target)}
        if target.secret:
            headers[target.secret_header] = self._resolve(target.secret, target)
        try:
            await self.http.post_json(url, payload, headers)
        except FetchError as exc:
            # The error names the URL, which may carry a token (Slack's does): keep the reason.
            raise type(exc)(exc.reason, target.label(), "") from None

    async def _mail(self, target: Target, alerts: Sequence[AlertHit]) -> None:
        smtp = self.delivery.smtp
        if smtp is None:
            raise TransientFetchError(
                "smtp_not_configured", target.label(), "set MEDIAMON_SMTP_HOST"
            )
        addresses = await check_egress(smtp.host, smtp.port, self.egress_allow, smtp.timeout)
        message = email_message(alerts, target, smtp.sender)
        await asyncio.to_thread(send_mail, smtp, str(addresses[0]), message)


def send_mail(smtp: SmtpSettings, address: str, message: EmailMessage) -> None:
    """Send `message` through `smtp`, connecting to `address` (checked by the egress guard).

    The host name is still used for TLS verification. SMTP errors are mapped to reasons.
    """
    label = f"{smtp.host}:{smtp.port}"
    client_class = _GuardedSMTPSSL if smtp.security == "ssl" else _GuardedSMTP
    try:
        with client_class(address, smtp) as client:
            if smtp.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp.username and smtp.password:
                client.login(smtp.username, smtp.password)
            client.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise PermanentFetchError("smtp_auth", label, f"code {exc.smtp_code}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _ in exc.recipients.values()})
        transient = all(400 <= code < 500 for code in codes)
        error = TransientFetchError if transient else PermanentFetchError
        raise error("smtp_recipients_refused", label, f"codes {codes}") from None
    except smtplib.SMTPResponseException as exc:
        error = TransientFetchError if 400 <= exc.smtp_code < 500 else PermanentFetchError
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
            else str(exc.smtp_error)  # fmt: skip
        raise error(f"smtp_{exc.smtp_code}", label, text[:200]) from None
    except smtplib.SMTPServerDisconnected as exc:
        raise TransientFetchError("smtp_disconnected", label, str(exc)[:200]) from None
    except TimeoutError as exc:
        raise TransientFetchError("timeout", label, str(exc)[:200]) from None
    except ssl.SSLError as exc:
        raise PermanentFetchError("tls_error", label, str(exc)[:200]) from None
    except OSError as exc:
        raise TransientFetchError("connect_error", label, str(exc)[:200]) from None


class _GuardedSMTP(smtplib.SMTP):
    """smtplib's client, connecting to the address the egress guard checked (not to a second
    DNS answer) while keeping the host name for STARTTLS certificate verification."""

    def __init__(self, address: str, smtp: SmtpSettings) -> None:
        self._address = address
        super().__init__(timeout=smtp.timeout)
        self.connect(smtp.host, smtp.port)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((self._address, port), timeout, self.source_address)


class _GuardedSMTPSSL(smtplib.SMTP_SSL):
    def __init__(self, address: str, smtp: SmtpSettings) -> None:
        self._address = address
        super().__init__(timeout=smtp.timeout, context=ssl.create_default_context())
        self.connect(smtp.host, smtp.port)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        raw = socket.create_connection((self._address, port), timeout, self.source_address)
        return self.context.wrap_socket(raw, server_hostname=host)


def redact(text: str | None, secrets: Sequence[str]) -> str:
    """`text` with every secret value (and any URL's path and query) replaced by `***`."""
    if not text:
        return ""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return re.sub(r"(https?://[^/\s]+)/\S*", r"\1/***", text)
