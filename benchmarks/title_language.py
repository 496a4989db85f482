"""Language of short texts: how often a title alone is tagged right, with and without hints.

    .venv/bin/python benchmarks/title_language.py              # + ../shared corpus if present
    .venv/bin/python benchmarks/title_language.py --json FILE

Development sets (titles with the language they are written in):

- `benchmarks/data/short_titles.yaml`: headlines written for mediamon, the short and hard
  kinds on purpose, on 17 fictional sites (15 of one language, 2 of two);
- the demo corpus (`examples/demo/corpus/`): every version's title of every article (feed-only
  kinds too), and the title with the first paragraph, as a feed's summary gives it.

The shared corpus (`--shared DIR`, default `MEDIAMON_SHARED` or `../shared`) adds its 25
titles as an extra tier, with no hint (one page per publisher: no site history). Its pages
come from Fundus's parser fixtures: reported, never a set to choose rules on.

Hints, as `ingest.extract.language.tag_language` takes them:

- `none`: the title alone;
- `feed`: the feed's declared language where the site has one language (a `<language>` or
  the feeds file); a site in two languages declares none;
- `site`: the languages of the site's other articles, as `ingest.store.site_languages`
  counts them (each item's own article left out): for the written titles their languages
  (what their bodies would be tagged), for the demo corpus what `tag_language` makes of each
  other article's title and body;
- `every`: both: the feed's language where it declares one, else the site's history.

Bodies are scored too (the demo corpus's title and body, and the shared corpus's expected
bodies): a hint for short texts must not change a body's tag.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ingest.demo.corpus import load_corpus  # noqa: E402
from ingest.extract.language import tag_language  # noqa: E402
from ingest.models import LanguageHint, LanguageTag  # noqa: E402

DEV_TITLES = REPO / "benchmarks" / "data" / "short_titles.yaml"
HINTS = ("none", "feed", "site", "every")


@dataclass(frozen=True)
class Item:
    """One text to tag: `article` names the article it comes from (left out of its own
    site's history)."""

    site: str
    article: str
    language: str
    text: str


@dataclass(frozen=True)
class DevSet:
    """Items, and for each site the language of each of its articles tagged from its text,
    and the languages the site publishes in."""

    name: str
    items: list[Item]
    history: Mapping[str, Mapping[str, str]]  # site -> article -> language
    site_languages: Mapping[str, tuple[str, ...]]


@dataclass
class Score:
    n: int = 0
    correct: int = 0
    undetermined: int = 0
    wrong: list[tuple[str, str, str]] = field(default_factory=list)  # expected, got, text

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0


# -- the sets -------------------------------------------------------------------------------


def written_titles(path: Path = DEV_TITLES) -> DevSet:
    """The written headlines; each site's history is its titles' languages."""
    sites = yaml.safe_load(path.read_text(encoding="utf-8"))["sites"]
    items, history, languages = [], {}, {}
    for site in sites:
        host, langs = site["host"], tuple(site["languages"])
        languages[host] = langs
        for number, title in enumerate(site["titles"]):
            language, text = title if isinstance(title, list) else (langs[0], title)
            items.append(Item(host, f"{host}/{number}", str(language), str(text)))
        history[host] = {i.article: i.language for i in items if i.site == host}
    return DevSet("written titles", items, history, languages)


def demo_sets() -> list[DevSet]:
    """The demo corpus's titles, titles with their summary, and title-and-body texts."""
    corpus = load_corpus()
    history: dict[str, dict[str, str]] = {}
    titles, summaries, bodies = [], [], []
    for article in corpus.articles:
        site = article.outlet.host
        for version in article.versions:
            titles.append(Item(site, article.id, article.outlet.language, version.title))
            if version.paragraphs:
                summary = f"{version.title}\n{version.paragraphs[0]}"
                summaries.append(Item(site, article.id, article.outlet.language, summary))
        if article.kind == "article":
            version = article.versions[0]
            body = f"{version.title}\n" + "\n\n".join(version.paragraphs)
            bodies.append(Item(site, article.id, article.outlet.language, body))
            history.setdefault(site, {})[article.id] = _tagged_by_text(body)
    languages = {o.host: (o.language,) for o in corpus.outlets}
    return [
        DevSet("demo titles", titles, history, languages),
        DevSet("demo title + summary", summaries, history, languages),
        DevSet("demo bodies", bodies, history, languages),
    ]


def shared_sets(shared: Path) -> list[DevSet]:
    """The shared corpus's titles and bodies: no site has a second page, so no history."""
    rows = [json.loads(line) for line in (shared / "corpus" / "pages.jsonl").open()]
    titles = [Item(r["publisher"], r["file"], r["lang"], r["title"]) for r in rows]
    bodies = [
        Item(r["publisher"], r["file"], r["lang"], f"{r['title']}\n{r['body']}") for r in rows
    ]
    return [
        DevSet("shared titles (extra tier)", titles, {}, {}),
        DevSet("shared bodies (extra tier)", bodies, {}, {}),
    ]


def _tagged_by_text(text: str) -> str:
    """The language a stored article counts under in its site's history: only articles the
    text tagged count (`ingest.store.site_languages`)."""
    tag = tag_language(text)
    return tag.code if tag.source == "text" else "und"


# -- scoring --------------------------------------------------------------------------------


def site_counts(dev: DevSet, item: Item) -> dict[str, int]:
    """What the site's other articles were tagged in, as the store counts them."""
    others = dev.history.get(item.site, {})
    return dict(Counter(lang for a, lang in others.items() if a != item.article and lang != "und"))


def tagger(dev: DevSet, hints: str) -> Callable[[Item], LanguageTag]:
    def tag(item: Item) -> LanguageTag:
        languages = dev.site_languages.get(item.site, ())
        feed = LanguageHint(languages[0], "feed") if len(languages) == 1 else None
        site = site_counts(dev, item) if hints in ("site", "every") else {}
        return tag_language(item.text, feed if hints in ("feed", "every") else None, site)

    return tag


def score(items: Iterable[Item], tag: Callable[[Item], LanguageTag]) -> Score:
    result = Score()
    for item in items:
        got = tag(item).code
        result.n += 1
        if got == item.language:
            result.correct += 1
        else:
            result.undetermined += got == "und"
            result.wrong.append((item.language, got, item.text.split("\n")[0][:80]))
    return result


def measure(sets: list[DevSet]) -> dict[str, dict[str, Score]]:
    """Every set under every kind of hint (a set without site history: `none` only)."""
    return {
        dev.name: {
            hints: score(dev.items, tagger(dev, hints))
            for hints in (HINTS if dev.history else HINTS[:1])
        }
        for dev in sets
    }


def titled_items(results: Mapping[str, Mapping[str, Score]], hints: str) -> Score:
    """The written titles and the demo titles together: the figure `tests/test_language.py`
    gates."""
    total = Score()
    for name in ("written titles", "demo titles"):
        part = results[name][hints]
        total.n, total.correct = total.n + part.n, total.correct + part.correct
        total.undetermined += part.undetermined
        total.wrong += part.wrong
    return total


# -- the command ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_shared = Path(os.environ.get("MEDIAMON_SHARED", REPO.parent / "shared"))
    parser.add_argument("--shared", type=Path, default=default_shared)
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure here")
    parser.add_argument("--wrong", action="store_true", help="list every text tagged wrong")
    args = parser.parse_args(argv)

    sets = [written_titles(), *demo_sets()]
    if (args.shared / "corpus" / "pages.jsonl").is_file():
        sets += shared_sets(args.shared)
    else:
        print(f"(no shared corpus at {args.shared}: its tier is left out)")
    results = measure(sets)
    results["titled items (written + demo)"] = {h: titled_items(results, h) for h in HINTS}

    print(f"{'set':34} {'n':>4}  " + "  ".join(f"{h:>13}" for h in HINTS))
    for name, by_hint in results.items():
        n = next(iter(by_hint.values())).n
        cells = [
            f"{by_hint[h].accuracy:.3f} ({by_hint[h].undetermined:>2} und)" if h in by_hint else ""
            for h in HINTS
        ]
        print(f"{name:34} {n:>4}  " + "  ".join(f"{c:>13}" for c in cells))
    if args.wrong:
        for name, by_hint in results.items():
            for hints, result in by_hint.items():
                for expected, got, text in result.wrong:
                    print(f"{name} [{hints}] {expected} -> {got}: {text}")
    if args.json:
        figures = {
            name: {h: asdict(s) | {"accuracy": s.accuracy} for h, s in by_hint.items()}
            for name, by_hint in results.items()
        }
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
