"""The demo's own corpus: fictional outlets and their articles, read from `examples/demo/corpus/`.

The texts were written for mediamon (Apache-2.0, like the code), so the repository carries
them and a fresh clone runs the demo with nothing beside it. The corpus is a handful of YAML
files, not pages: `ingest.demo.site` renders pages and feeds from it at run time.

    outlets.yaml    the outlets (host, language, feed, navigation), the agency, UI words
    <lang>.yaml     `articles:` (and `wires:`, agency texts that outlets reprint)

An article is one of four kinds: `article` (a page with text), `paywall` and `video` (pages
without article text, which the pipeline keeps feed-only) and `gone` (listed in the feed, 404
on the site). `revised:` gives the version the site shows from the demo's second pass on;
`pass: 2` an article that only appears then. `reprint:` builds an article from a wire: the
outlet's own intro, then the wire's paragraphs it `keep`s.

`load_corpus` checks everything and names the file and article of each problem
(`ConfigError`), so a typo in a text file never surfaces as a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ingest.config import REPOSITORY, load_yaml_list
from ingest.errors import ConfigError

__all__ = ["CORPUS_DIR", "KINDS", "Article", "Corpus", "Outlet", "Version", "load_corpus"]

CORPUS_DIR = REPOSITORY / "examples" / "demo" / "corpus"
KINDS = {"article": "ok", "paywall": "no_text", "video": "no_text", "gone": "http_404"}
PASSES = (1, 2)
_ID = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


@dataclass(frozen=True)
class Outlet:
    id: str
    name: str
    host: str  # e.g. www.dagnieuws.example; served as <host>.localhost
    language: str
    feed_format: str  # rss or atom
    feed_path: str  # ends in .rss or .atom: the server's Content-Type follows the suffix
    feed_title: str
    feed_malformed: bool
    sections: tuple[str, ...]

    @property
    def home(self) -> str:
        return f"https://{self.host}/"

    @property
    def feed_url(self) -> str:
        return f"https://{self.host}{self.feed_path}"


@dataclass(frozen=True)
class Version:
    """What a page says at one time: the first version, or a later edit."""

    title: str
    paragraphs: tuple[str, ...]
    at: datetime  # publication time, or the time of the edit


@dataclass(frozen=True)
class Article:
    id: str
    outlet: Outlet
    published: datetime
    section: str
    author: str
    kind: str  # a key of KINDS
    summary: str | None  # the feed's description when given, else cut from the text
    charset: str  # the page's encoding (one page is ISO-8859-2, as legacy sites are)
    first_pass: int  # 1, or 2 for an article published after the demo's first pass
    versions: tuple[Version, ...]  # the first version, then an edit (if any)
    wire: str | None = None  # the agency wire this article reprints

    @property
    def url(self) -> str:
        return f"https://{self.outlet.host}/{self.published:%Y/%m/%d}/{self.id}"

    @property
    def expect(self) -> str:
        """What the pipeline should make of it: ok, no_text or http_404."""
        return KINDS[self.kind]

    @property
    def edited(self) -> bool:
        return len(self.versions) > 1

    def in_pass(self, number: int) -> bool:
        return number >= self.first_pass

    def version(self, number: int) -> Version:
        """The version the site shows in demo pass `number` (1 or 2)."""
        return self.versions[-1] if number >= 2 else self.versions[0]


@dataclass(frozen=True)
class Corpus:
    outlets: tuple[Outlet, ...]
    articles: tuple[Article, ...]
    agencies: Mapping[str, str]
    ui: Mapping[str, Mapping[str, Any]]  # language -> the page's fixed words

    def by_id(self, article_id: str) -> Article:
        return next(a for a in self.articles if a.id == article_id)


def load_corpus(corpus_dir: Path = CORPUS_DIR) -> Corpus:
    """Read and check the corpus in `corpus_dir` (outlets.yaml and one file per language)."""
    listed, meta = load_yaml_list(corpus_dir / "outlets.yaml", "outlets", "the demo corpus")
    outlets = tuple(_outlet(item, corpus_dir / "outlets.yaml") for item in listed)
    by_id = {outlet.id: outlet for outlet in outlets}
    if len(by_id) != len(outlets):
        raise ConfigError(f"{corpus_dir / 'outlets.yaml'}: an outlet id is listed twice")
    agencies = dict(meta.get("agencies") or {})
    ui = dict(meta.get("ui") or {})
    missing_ui = {o.language for o in outlets} - set(ui)
    if missing_ui:
        raise ConfigError(f"{corpus_dir / 'outlets.yaml'}: no ui words for {sorted(missing_ui)}")
    articles: list[Article] = []
    for path in sorted(corpus_dir.glob("*.yaml")):
        if path.name == "outlets.yaml":
            continue
        items, data = load_yaml_list(path, "articles", "the demo corpus")
        wires = {str(w.get("id")): w for w in data.get("wires") or [] if isinstance(w, dict)}
        for position, item in enumerate(items, start=1):
            label = f"{path.name}: article #{position}"
            articles.append(_article(item, label, by_id, wires, agencies))
    ids = [a.id for a in articles]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ConfigError(f"{corpus_dir}: article ids used twice: {', '.join(twice)}")
    return Corpus(outlets, tuple(articles), agencies, ui)


def _text(item: Mapping[str, Any], key: str, label: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{label}: missing {key!r}")
    return " ".join(value.split())


def _outlet(item: Any, path: Path) -> Outlet:
    if not isinstance(item, dict):
        raise ConfigError(f"{path}: an outlet must be a mapping")
    label = f"{path.name}: outlet {item.get('id')!r}"
    feed = item.get("feed")
    if not isinstance(feed, dict) or feed.get("format") not in ("rss", "atom"):
        raise ConfigError(f"{label}: feed needs a format, rss or atom")
    fmt = str(feed["format"])
    feed_path = str(feed.get("path", ""))
    if not feed_path.startswith("/") or not feed_path.endswith(f".{fmt}"):
        raise ConfigError(f"{label}: feed path must start with / and end in .{fmt}")
    return Outlet(
        id=_text(item, "id", label),
        name=_text(item, "name", label),
        host=_text(item, "host", label),
        language=_text(item, "language", label),
        feed_format=fmt,
        feed_path=feed_path,
        feed_title=_text(feed, "title", label),
        feed_malformed=bool(feed.get("malformed", False)),
        sections=tuple(str(s) for s in item.get("sections") or ()),
    )


_ARTICLE_KEYS = frozenset(
    {"id", "outlet", "published", "section", "author", "kind", "title", "summary"}
    | {"paragraphs", "charset", "pass", "revised", "reprint"}
)


def _article(
    item: Any,
    label: str,
    outlets: Mapping[str, Outlet],
    wires: Mapping[str, Mapping[str, Any]],
    agencies: Mapping[str, str],
) -> Article:
    if not isinstance(item, dict):
        raise ConfigError(f"{label}: an article must be a mapping")
    label = f"{label} ({item.get('id')})"
    unknown = set(item) - _ARTICLE_KEYS
    if unknown:
        raise ConfigError(f"{label}: unknown keys {sorted(unknown)}")
    article_id = _text(item, "id", label)
    if not _ID.fullmatch(article_id):
        raise ConfigError(f"{label}: an id is lower-case words joined by '-' (it is the URL)")
    outlet = outlets.get(str(item.get("outlet")))
    if outlet is None:
        raise ConfigError(f"{label}: unknown outlet {item.get('outlet')!r}")
    kind = str(item.get("kind", "article"))
    if kind not in KINDS:
        raise ConfigError(f"{label}: kind must be one of {sorted(KINDS)}")
    published = _time(item.get("published"), label)
    title = _text(item, "title", label)
    wire = None
    if "reprint" in item:
        wire, paragraphs = _reprint(item["reprint"], label, wires, agencies)
    else:
        paragraphs = _paragraphs(item.get("paragraphs"), label, required=kind == "article")
    if kind == "article" and not paragraphs:
        raise ConfigError(f"{label}: an article needs paragraphs")
    versions = [Version(title, paragraphs, published)]
    if "revised" in item:
        versions.append(_revision(item["revised"], label, published))
    first_pass = int(item.get("pass", 1))
    if first_pass not in PASSES:
        raise ConfigError(f"{label}: pass must be 1 or 2")
    summary = item.get("summary")
    if kind != "article" and not summary:
        raise ConfigError(f"{label}: a {kind} page needs the feed's 'summary'")
    return Article(
        id=article_id,
        outlet=outlet,
        published=published,
        section=_text(item, "section", label),
        author=_text(item, "author", label),
        kind=kind,
        summary=" ".join(str(summary).split()) if summary else None,
        charset=str(item.get("charset", "utf-8")),
        first_pass=first_pass,
        versions=tuple(versions),
        wire=wire,
    )


def _time(value: Any, label: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{label}: {value!r} is not an ISO time") from None
    if moment.tzinfo is None:
        raise ConfigError(f"{label}: {value!r} needs a time zone")
    return moment


def _paragraphs(value: Any, label: str, required: bool = True) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    if not isinstance(value, list) or not all(isinstance(p, str) and p.strip() for p in value):
        raise ConfigError(f"{label}: 'paragraphs' must be a list of texts")
    return tuple(" ".join(p.split()) for p in value)


def _reprint(
    spec: Any, label: str, wires: Mapping[str, Mapping[str, Any]], agencies: Mapping[str, str]
) -> tuple[str, tuple[str, ...]]:
    if not isinstance(spec, dict) or str(spec.get("wire")) not in wires:
        raise ConfigError(f"{label}: reprint needs the id of a wire in the same file")
    wire = wires[str(spec["wire"])]
    if wire.get("agency") not in agencies:
        raise ConfigError(f"{label}: the wire's agency {wire.get('agency')!r} is not listed")
    text = _paragraphs(wire.get("paragraphs"), f"{label}: wire {spec['wire']}")
    keep = spec.get("keep", list(range(len(text))))
    if not isinstance(keep, list) or not all(
        isinstance(i, int) and 0 <= i < len(text) for i in keep
    ):
        raise ConfigError(f"{label}: keep lists paragraph numbers of the wire (0-{len(text) - 1})")
    intro = (" ".join(str(spec["intro"]).split()),) if spec.get("intro") else ()
    return str(spec["wire"]), intro + tuple(text[i] for i in keep)


def _revision(spec: Any, label: str, published: datetime) -> Version:
    if not isinstance(spec, dict):
        raise ConfigError(f"{label}: revised must be a mapping with at, title, paragraphs")
    at = _time(spec.get("at"), f"{label}: revised")
    if at <= published:
        raise ConfigError(f"{label}: revised.at must be after published")
    return Version(_text(spec, "title", label), _paragraphs(spec.get("paragraphs"), label), at)
