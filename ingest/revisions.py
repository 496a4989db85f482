"""Edits: articles re-fetched after publication, earlier versions kept.

News sites change articles after publishing them: a headline sharpened, a paragraph added,
a figure corrected. As GDELT does, mediamon looks at each article again at fixed ages (by
default about 24 hours and 7 days after it was first seen). `refetch_due` is what the
maintenance DAG and `mediamon refetch` call:

1. **Select** (one query per stage): articles first seen at least `stage.after` ago, and not
   more than `late_by` later (a stage missed for longer is skipped, not caught up: a check
   weeks late says little about edits), extracted from their page (`extraction.status: ok`),
   and not yet checked at that stage (`refetch_stages`). An article due at two stages at
   once is checked once, for the later one, and both are marked done.
2. **Fetch and extract** exactly as at ingest: `HttpClient` (same egress guard, robots.txt,
   limits), then `ingest.extract.pool.analyse_page` in the extraction worker pool.
3. **Compare**: the title with case and spacing folded, the body by `content_hash` (case,
   punctuation and spacing folded), so a re-rendering that changes nothing a reader sees is
   not a revision.
4. **Store**: a changed article's previous version goes to `<prefix>-revisions` under the
   id `<article id>-r<n>` (create-only, so a retry never stores it twice), with the time it
   was first seen and the time it was replaced; then the article takes the new title, body,
   fingerprint, `revised_at` and `revision_count`. That update is a compare-and-set on the
   old content hash and title, so two workers checking one article store one revision.
   Every checked article records the stage, `last_checked_at` and `last_check_status`
   (`unchanged`, `revised`, or `failed:<reason>`). A transient failure (timeout, 5xx) marks
   nothing, so the next run within `late_by` tries again.

`article_history` and `diff_versions` give `mediamon history ID` its versions and diffs
(printed by `ingest.cli.render.history`).
"""

from __future__ import annotations

import asyncio
import difflib
import re
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest import store
from ingest.config import Settings
from ingest.errors import ConfigError, ExtractionError, FetchError
from ingest.extract.language import count_words
from ingest.extract.pool import analyse_page, extraction_pool  # the same pool and work as ingest
from ingest.fetch.client import HttpClient
from ingest.identity import content_hash
from ingest.models import Extraction, RunReport
from ingest.run_id import run_id
from ingest.store import Client, IndexNames
from ingest.store.language_fields import language_fields

__all__ = [
    "DEFAULT_LATE_BY",
    "DEFAULT_STAGES",
    "Stage",
    "article_history",
    "diff_versions",
    "due_articles",
    "parse_stage",
    "refetch_due",
]

_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
DUE_LIMIT = 1000  # articles checked per stage and run; the rest wait for the next run


@dataclass(frozen=True)
class Stage:
    """A re-check at a fixed age: `name` (as written, e.g. "24h") is stored when done."""

    name: str
    after: timedelta


def parse_stage(text: str) -> Stage:
    """`90m`, `24h`, `7d`, `2w` -> a Stage of that name and age."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ConfigError(f"{text!r} is not an age: use 90m, 24h, 7d or 2w")
    amount, unit = int(match.group(1)), match.group(2)
    return Stage(f"{amount}{unit}", timedelta(**{_UNITS[unit]: amount}))


DEFAULT_STAGES = (parse_stage("24h"), parse_stage("7d"))
DEFAULT_LATE_BY = timedelta(days=2)


@dataclass
class Due:
    """An article to re-check: where it is, what it said, and which stages this check does."""

    id: str
    index: str
    stage: Stage
    marks: list[str]  # this stage and any earlier one missed
    source: dict[str, Any]  # the indexed `_source` (title, body, content_hash, ...)


@dataclass
class Check:
    """The outcome of re-checking one article."""

    due: Due
    status: str  # unchanged, revised, failed:<reason>, retry:<reason>
    extraction: Extraction | None = None
    title_changed: bool = False
    body_changed: bool = False


# -- selecting ------------------------------------------------------------------------------


def due_articles(
    es: Client,
    names: IndexNames,
    now: datetime,
    stages: Sequence[Stage] = DEFAULT_STAGES,
    late_by: timedelta = DEFAULT_LATE_BY,
    limit: int = DUE_LIMIT,
) -> list[Due]:
    """Articles due for a re-check at one of `stages`, the latest stage first."""
    ordered = sorted(stages, key=lambda s: s.after, reverse=True)
    due: dict[str, Due] = {}
    for position, stage in enumerate(ordered):
        earlier = [s.name for s in ordered[position:]]
        for hit in _search_due(es, names, stage, now, late_by, limit):
            if hit["_id"] not in due:
                due[hit["_id"]] = Due(hit["_id"], hit["_index"], stage, earlier, hit["_source"])
    return list(due.values())


def _search_due(
    es: Client,
    names: IndexNames,
    stage: Stage,
    now: datetime,
    late_by: timedelta,
    limit: int,
) -> list[dict[str, Any]]:
    query = {
        "bool": {
            "filter": [
                {"term": {"extraction.status": "ok"}},
                {
                    "range": {
                        "first_seen_at": {
                            "lte": (now - stage.after).isoformat(),
                            "gt": (now - stage.after - late_by).isoformat(),
                        }
                    }
                },
            ],
            "must_not": [{"term": {"refetch_stages": stage.name}}],
        }
    }
    response = es.options(ignore_status=404).search(
        index=names.articles,
        query=query,
        sort=[{"first_seen_at": "asc"}],
        size=limit,
        source_includes=_DUE_FIELDS,
    )
    hits: list[dict[str, Any]] = response.get("hits", {}).get("hits", [])
    return hits


_DUE_FIELDS = [
    "url",
    "title",
    "body",
    "content_hash",
    "word_count",
    "source",
    "language",
    "first_seen_at",
    "revised_at",
    "revision_count",
]


# -- fetching and comparing -----------------------------------------------------------------


async def check_all(
    due: Sequence[Due], http: HttpClient, executor: Executor, report: RunReport
) -> list[Check]:
    return list(await asyncio.gather(*(check(d, http, executor, report) for d in due)))


async def check(due: Due, http: HttpClient, executor: Executor, report: RunReport) -> Check:
    """Fetch and extract the article again, as at ingest, and compare."""
    url = str(due.source.get("url", ""))
    loop = asyncio.get_running_loop()
    try:
        page = await http.fetch_page(url)
        # Only the extraction is compared: the article keeps the language it was stored with.
        page_url = page.final_url
        extraction, _ = await loop.run_in_executor(executor, analyse_page, page.html, page_url)
    except FetchError as exc:
        report.fail(f"page:{exc.reason}", str(exc))
        prefix = "retry" if exc.transient else "failed"
        return Check(due, f"{prefix}:page:{exc.reason}")
    except ExtractionError as exc:
        report.fail(f"page:{exc.reason}", str(exc))
        return Check(due, f"failed:page:{exc.reason}")
    return compare(due, extraction)


def compare(due: Due, extraction: Extraction) -> Check:
    """Did the title or the body change in a way a reader would see?"""
    old_title, old_body = str(due.source.get("title", "")), str(due.source.get("body", ""))
    # A page whose title the extractor misses this time has not lost its headline.
    new_title = extraction.title or old_title
    title_changed = _fold_title(old_title) != _fold_title(new_title)
    old_hash = due.source.get("content_hash") or content_hash(old_body)
    body_changed = old_hash != content_hash(extraction.body)
    status = "revised" if title_changed or body_changed else "unchanged"
    return Check(due, status, extraction, title_changed, body_changed)


def _fold_title(title: str) -> str:
    return " ".join(title.casefold().split())


# -- storing --------------------------------------------------------------------------------

# Takes the new version only if the article still holds the version this check compared
# against (another worker may have stored it already); records the stage in any case.
_REVISE = """
if (params.revision != null && ctx._source.content_hash == params.old_hash
    && ctx._source.title == params.old_title) {
  ctx._source.title = params.title;
  ctx._source.body = params.body;
  ctx._source.text = params.text;
  ctx._source.content_hash = params.content_hash;
  ctx._source.word_count = params.word_count;
  ctx._source.minhash = params.minhash;
  ctx._source.lsh_bands = params.lsh_bands;
  if (ctx._source.extraction != null) {
    ctx._source.extraction.truncated = params.truncated;
    ctx._source.extraction.method = params.method;
  }
  ctx._source.revised_at = params.now;
  ctx._source.revision_count = params.revision;
}
if (ctx._source.refetch_stages == null) { ctx._source.refetch_stages = new ArrayList(); }
for (s in params.stages) {
  if (!ctx._source.refetch_stages.contains(s)) { ctx._source.refetch_stages.add(s); }
}
ctx._source.last_checked_at = params.now;
ctx._source.last_check_status = params.status;
"""


def store_checks(
    es: Client, names: IndexNames, checks: Sequence[Check], now: datetime
) -> RunReport:
    """Store the revisions found, then update every checked article; counts in a report."""
    report = RunReport(run_id="", started_at=now)
    revised = [c for c in checks if c.status == "revised"]
    written = store.bulk_write(es, (_revision_action(names, c, now) for c in revised))
    for reason, n in written.failures.items():
        report.fail(reason, n=n)
    kept = [c for c in checks if not c.status.startswith("retry:")]
    kept = [c for c in kept if _revision_id(c) not in written.failed_ids]
    updated = store.bulk_write(es, (_article_action(c, now) for c in kept))
    for reason, n in updated.failures.items():
        report.fail(reason, n=n)
    for c in checks:
        report.count(f"refetch.{c.status.split(':')[0]}")
    return report


def _revision_id(check: Check) -> str:
    return f"{check.due.id}-r{int(check.due.source.get('revision_count') or 0) + 1}"


def _revision_action(names: IndexNames, check: Check, now: datetime) -> dict[str, Any]:
    """The version being replaced, create-only under a deterministic id."""
    source = check.due.source
    return {
        "_op_type": "create",
        "_index": names.revisions,
        "_id": _revision_id(check),
        "_source": {
            "article_id": check.due.id,
            "revision": int(source.get("revision_count") or 0) + 1,
            "url": source.get("url"),
            "source": source.get("source"),
            "language": source.get("language"),
            "title": source.get("title", ""),
            "body": source.get("body", ""),
            "content_hash": source.get("content_hash"),
            "word_count": source.get("word_count"),
            "seen_from": source.get("revised_at") or source.get("first_seen_at"),
            "replaced_at": now.isoformat(),
            "stage": check.due.stage.name,
            "title_changed": check.title_changed,
            "body_changed": check.body_changed,
        },
    }


def _article_action(check: Check, now: datetime) -> dict[str, Any]:
    source, extraction = check.due.source, check.extraction
    params: dict[str, Any] = {
        "stages": check.due.marks,
        "now": now.isoformat(),
        "status": check.status,
        "revision": None,
    }
    if check.status == "revised" and extraction is not None:
        title = extraction.title or source.get("title")
        params.update(
            revision=int(source.get("revision_count") or 0) + 1,
            old_hash=source.get("content_hash"),
            old_title=source.get("title"),
            title=title,
            body=extraction.body,
            # the language's analysed copy follows the new text (ingest.store.language_fields)
            text=language_fields(
                {**source, "title": title, "body": extraction.body}, store.article_groups()
            ),
            content_hash=content_hash(extraction.body),
            word_count=count_words(extraction.body),
            minhash=extraction.minhash,
            lsh_bands=list(extraction.lsh_bands),
            truncated=extraction.truncated,
            method=extraction.method or None,
        )
    return {
        "_op_type": "update",
        "_index": check.due.index,
        "_id": check.due.id,
        "retry_on_conflict": 5,  # a "seen again" update of the same article at the same time
        "script": {"source": _REVISE, "params": params},
    }


# -- the entry point ------------------------------------------------------------------------


def refetch_due(
    settings: Settings,
    es: Client,
    *,
    stages: Sequence[Stage] = DEFAULT_STAGES,
    late_by: timedelta = DEFAULT_LATE_BY,
    now: datetime | None = None,
    limit: int = DUE_LIMIT,
) -> RunReport:
    """Re-check every article due at one of `stages`; store the report in `mediamon-runs`."""
    names = IndexNames(settings.index_prefix)
    started = now or datetime.now(UTC)
    report = RunReport(run_id=run_id("refetch", started=started), started_at=started)
    due = due_articles(es, names, started, stages, late_by, limit)
    report.count("refetch.due", len(due))
    if due:
        with extraction_pool(settings.extract_workers) as executor:
            checks = asyncio.run(_check_with_client(settings, due, executor, report))
        report.merge(store_checks(es, names, checks, started))
        store.refresh(es, names)
    report.finished_at = datetime.now(UTC)
    store.save_run_report(es, names, report)
    return report


async def _check_with_client(
    settings: Settings, due: list[Due], executor: Executor, report: RunReport
) -> list[Check]:
    async with HttpClient(settings.fetch, settings.egress_allow) as http:
        return await check_all(due, http, executor, report)


# -- history --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Version:
    """One version of an article: `number` 0 is the first seen; the last is the current one."""

    number: int
    title: str
    body: str
    seen_from: str  # ISO time it was first seen
    replaced_at: str | None  # ISO time a re-check found it changed; None for the current one


@dataclass
class History:
    article_id: str
    url: str
    source: str
    versions: list[Version] = field(default_factory=list)


def article_history(
    es: Client, names: IndexNames, article_id: str, current: dict[str, Any]
) -> History:
    """Every version of an article, oldest first: its revisions, then `current` (its source)."""
    response = es.options(ignore_status=404).search(
        index=names.revisions,
        query={"term": {"article_id": article_id}},
        sort=[{"revision": "asc"}],
        size=1000,
    )
    history = History(article_id, current.get("url", ""), current.get("source", ""))
    for hit in response.get("hits", {}).get("hits", []):
        rev = hit["_source"]
        history.versions.append(
            Version(
                rev["revision"] - 1,
                rev.get("title", ""),
                rev.get("body", ""),
                rev.get("seen_from") or "",
                rev.get("replaced_at"),
            )
        )
    history.versions.append(
        Version(
            len(history.versions),
            current.get("title", ""),
            current.get("body", ""),
            current.get("revised_at") or current.get("first_seen_at", ""),
            None,
        )
    )
    return history


@dataclass(frozen=True)
class ParagraphChange:
    """One step of a body diff: `op` is same, removed, added or changed (then `words`)."""

    op: str
    before: str = ""
    after: str = ""
    words: tuple[tuple[str, str], ...] = ()  # (op, text): same, removed, added

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"op": self.op, "before": self.before, "after": self.after}
        if self.words:
            data["words"] = [{"op": op, "text": text} for op, text in self.words]
        return data


@dataclass(frozen=True)
class VersionDiff:
    """What changed from one version to the next."""

    before: Version
    after: Version
    title_changed: bool
    body: tuple[ParagraphChange, ...]

    def unified(self) -> str:
        """A plain unified diff, paragraph by paragraph (for --json and for scripts)."""
        lines = difflib.unified_diff(
            [f"# {self.before.title}", *_paragraphs(self.before.body)],
            [f"# {self.after.title}", *_paragraphs(self.after.body)],
            fromfile=f"version {self.before.number} ({self.before.seen_from})",
            tofile=f"version {self.after.number} ({self.after.seen_from})",
            lineterm="",
        )
        return "\n".join(lines)


def diff_versions(before: Version, after: Version) -> VersionDiff:
    """Paragraph-level diff of the bodies, with word-level detail for changed paragraphs."""
    old, new = _paragraphs(before.body), _paragraphs(after.body)
    changes: list[ParagraphChange] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            changes += [ParagraphChange("same", p, p) for p in old[i1:i2]]
            continue
        paired = min(i2 - i1, j2 - j1) if op == "replace" else 0
        for k in range(paired):
            a, b = old[i1 + k], new[j1 + k]
            changes.append(ParagraphChange("changed", a, b, _word_diff(a, b)))
        changes += [ParagraphChange("removed", before=p) for p in old[i1 + paired : i2]]
        changes += [ParagraphChange("added", after=p) for p in new[j1 + paired : j2]]
    return VersionDiff(before, after, before.title != after.title, tuple(changes))


def _paragraphs(body: str) -> list[str]:
    return [p.strip() for p in body.split("\n\n") if p.strip()]


def _word_diff(before: str, after: str) -> tuple[tuple[str, str], ...]:
    """Words removed and added; characters for text written without spaces (Japanese)."""
    spaced = " " in before or " " in after
    old, new = (before.split(), after.split()) if spaced else (list(before), list(after))
    join = " ".join if spaced else "".join
    parts: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(("same", join(old[i1:i2])))
            continue
        if i2 > i1:
            parts.append(("removed", join(old[i1:i2])))
        if j2 > j1:
            parts.append(("added", join(new[j1:j2])))
    return tuple(parts)
