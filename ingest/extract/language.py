"""Language of an article: an ISO 639-1 code and a confidence, from its text and its hints.

The text decides when there is enough of it. For a short or unsure text (a title, a feed's
summary) the hints say which languages are possible and the text picks among them, the
strongest hint alone: the feeds file's `language` ("configured"), then the feed's own
`<language>` ("feed"), then the page's `<html lang>` ("page"), else the languages of the
site's other articles ("site": those tagged from their own text, counted per batch by
`ingest.store.site_languages`), each making up at least `SITE_LANGUAGE_SHARE` of them.
A long, confident text that contradicts its hint is kept and reported (`disagrees=True`),
and so is a short one that rules the hint out (`RULED_OUT`: another script), so a feed that
mislabels its language shows up in the run data instead of being believed.

The confidence is what the text alone says of the reported language: a hint chooses, it
never raises the confidence, and `source` says which of them decided. With no hint at all a
text weaker than `UNDETERMINED_BELOW` is "und" (`benchmarks/title_language.py` measures
how often that happens to titles, with each hint and without).

Importing this module is cheap (Airflow parses DAG files that import the package): the
py3langid model (~1 s to load) is built on first use, once per process.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ingest.models import LanguageHint, LanguageTag

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

__all__ = [
    "SITE_MIN_ARTICLES",
    "count_words",
    "normalise_language_code",
    "site_candidates",
    "tag_language",
]

SHORT_TEXT_WORDS = 15  # below this, a text's guess is unreliable: its hint decides
CONFIDENT = 0.9  # a longer text this sure of itself overrides its hint
UNDETERMINED_BELOW = 0.5  # with no hint, a weaker guess than this is reported as "und"
# The site's history is a hint once it holds this many articles tagged from their text,
# and names the languages that make up at least this share of them (a site in two
# languages: the text chooses between the two; a stray article in a third: not a candidate).
SITE_MIN_ARTICLES = 5
SITE_LANGUAGE_SHARE = 0.1
# A hint's language that the text gives less than this share of its best guess's
# probability is ruled out, short text or not: another script, or letters that language
# does not write ("Russia says talks with NATO have failed" on a Russian site: 5e-8). The
# right language of the development titles never scored below 0.03 of the best guess.
RULED_OUT = 0.001
MAX_CHARS = 2000  # enough for a confident answer; the identifier's cost grows with the text

# Codes the model (or a feed) may give for which ISO 639-1 has a code: deprecated codes,
# Norwegian's written standards, and members of a macrolanguage that has a 639-1 code.
_TO_ISO_639_1 = {
    "nb": "no",
    "nn": "no",
    "iw": "he",
    "in": "id",
    "ji": "yi",
    "ary": "ar",  # Moroccan Arabic
    "arz": "ar",  # Egyptian Arabic
    "fuv": "ff",  # Nigerian Fulfulde
    "gug": "gn",  # Paraguayan Guaraní
    "kik": "ki",
    "ltg": "lv",  # Latgalian
    "sdh": "ku",  # Southern Kurdish
    "uzs": "uz",  # Southern Uzbek
    "wuu": "zh",  # Wu Chinese
    "yue": "zh",  # Cantonese
}
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")
# Scripts written without spaces between words: about one word per two characters.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[^\W\d_]+")


def normalise_language_code(code: str | None) -> str | None:
    """`nl-NL` → `nl`, `nb`/`nn` → `no`, `iw` → `he`; None for an empty or malformed code.

    Codes with no ISO 639-1 equivalent keep their ISO 639-3 form (`pcm`, `vec`).
    """
    if not code:
        return None
    primary = re.split(r"[-_\s]", code.strip().lower(), maxsplit=1)[0]
    if not _LANGUAGE_CODE.fullmatch(primary):
        return None
    return _TO_ISO_639_1.get(primary, primary)


def count_words(text: str) -> int:
    """Words in `text`: runs of letters, plus one per two Han or kana characters."""
    spaced, unspaced = _UNSPACED.subn(" ", text)
    return len(_WORD.findall(spaced)) + (unspaced + 1) // 2


def tag_language(
    text: str,
    declared: LanguageHint | None = None,
    site: Mapping[str, int] | None = None,
) -> LanguageTag:
    """Tag `text` (title and body) with its language; `declared` (a declared language) or,
    without one, `site` (language counts of the site's other articles) guide short texts.

    `source` says what decided: "text" (also when it rules out every hinted language:
    `RULED_OUT`); the hint's source ("configured", "feed", "page", "site": a text too
    short or unsure to overrule it, choosing among its languages);
    "text+<source>" (they agree); "none" (no text and no hint: code "und"). `confidence`
    is the probability the text alone gives the reported code; 0.0 when there is no text to
    weigh. `disagrees` flags a text that judges otherwise than its hint, whichever of them
    was kept: one long enough to judge, or one that rules the hint out.
    """
    hint_code = normalise_language_code(declared.code) if declared else None
    candidates: tuple[str, ...]
    if hint_code is not None and declared is not None:
        candidates, hint_source = (hint_code,), declared.source
    else:
        candidates, hint_source = site_candidates(site or {}), "site"
    sample = text[:MAX_CHARS]
    if not _WORD.search(sample):
        if not candidates:
            return LanguageTag(code="und", confidence=0.0, source="none")
        return LanguageTag(candidates[0], 0.0, hint_source, declared=hint_code)

    scores = _rank(sample)
    best, best_score = max(scores.items(), key=lambda item: item[1])
    possible = [c for c in candidates if scores.get(c, 0.0) >= RULED_OUT * best_score]
    if not possible:  # no hint, or the text rules every hinted language out
        if best_score < UNDETERMINED_BELOW:
            return LanguageTag("und", 0.0, "text", declared=hint_code, disagrees=bool(candidates))
        return LanguageTag(best, best_score, "text", declared=hint_code, disagrees=bool(candidates))
    if best in possible:
        return LanguageTag(best, best_score, f"text+{hint_source}", declared=hint_code)
    short = count_words(sample) < SHORT_TEXT_WORDS
    if short or best_score < CONFIDENT:
        chosen = max(possible, key=lambda code: scores.get(code, 0.0))
        return LanguageTag(
            chosen, scores.get(chosen, 0.0), hint_source, declared=hint_code, disagrees=not short
        )
    return LanguageTag(best, best_score, "text", declared=hint_code, disagrees=True)


def site_candidates(counts: Mapping[str, int]) -> tuple[str, ...]:
    """The languages a site's history makes likely, most frequent first: each of at least
    `SITE_LANGUAGE_SHARE` of its articles; none below `SITE_MIN_ARTICLES` articles."""
    total = sum(counts.values())
    if total < SITE_MIN_ARTICLES:
        return ()
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(code for code, n in ranked if n >= SITE_LANGUAGE_SHARE * total and code != "und")


def _rank(text: str) -> dict[str, float]:
    """Probability per normalised code (`nn` and `no` summed into `no`, and so on)."""
    scores: dict[str, float] = {}
    for label, probability in _identifier().rank(text):
        code = _TO_ISO_639_1.get(label, label)
        if code != "zxx":  # "no linguistic content": not a language to report
            scores[code] = scores.get(code, 0.0) + probability
    return scores


@functools.cache
def _identifier() -> LanguageIdentifier:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
