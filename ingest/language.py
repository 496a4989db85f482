"""Language of an article: an ISO 639-1 code and a confidence, from its text and declared hints.

The text decides when there is enough of it; a declared language (feed config, the feed's
`<language>`, the page's `<html lang>`) decides for short or ambiguous texts, and a long,
confident text that contradicts its declaration is reported (`disagrees=True`), so a feed
that mislabels its language shows up in the run data instead of being believed.

Importing this module is cheap (Airflow parses DAG files that import the package): the
py3langid model (~1 s to load) is built on first use, once per process.
"""

from __future__ import annotations

import functools
import re
from dataclasses import replace
from typing import TYPE_CHECKING

from ingest.models import LanguageTag

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

__all__ = ["count_words", "normalise_language_code", "tag_language"]

SHORT_TEXT_WORDS = 15  # below this, a text's guess is unreliable: a declared language wins
CONFIDENT = 0.9  # a longer text this sure of itself overrides its declaration
UNDETERMINED_BELOW = 0.5  # with no declaration, a weaker guess than this is reported as "und"
DECLARED_PRIOR_ODDS = 20.0  # how much more often a declaration is right than the text's rival
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


def tag_language(text: str, declared: str | None = None) -> LanguageTag:
    """Tag `text` (title and body) with its language; `declared` is a hint for short texts.

    `source` says what decided: "text"; "declared" (a text too short or too unsure to
    overrule the declaration); "text+declared" (they agree); "none" (no text and no
    declaration: code "und"). `confidence` is the probability of the reported code given
    the text, a declaration counting as prior odds of `DECLARED_PRIOR_ODDS` in its favour;
    0.0 when there is no text to weigh. `disagrees` flags a text long enough to judge that
    judges otherwise than its declaration, whichever of them was kept.
    """
    hint = normalise_language_code(declared)
    sample = text[:MAX_CHARS]
    if not _WORD.search(sample):
        if hint is None:
            return LanguageTag(code="und", confidence=0.0, source="none")
        return LanguageTag(code=hint, confidence=0.0, source="declared", declared=hint)

    scores = _rank(sample)
    best, best_score = max(scores.items(), key=lambda item: item[1])
    if hint is None:
        if best_score < UNDETERMINED_BELOW:
            return LanguageTag(code="und", confidence=0.0, source="text")
        return LanguageTag(code=best, confidence=best_score, source="text")

    # Bayes with prior odds K for the declared language: P(c) = w_c p_c / (1 + (K - 1) p_hint)
    weight = 1.0 + (DECLARED_PRIOR_ODDS - 1.0) * scores.get(hint, 0.0)
    declared_tag = LanguageTag(
        code=hint,
        confidence=DECLARED_PRIOR_ODDS * scores.get(hint, 0.0) / weight,
        source="text+declared" if best == hint else "declared",
        declared=hint,
    )
    if best == hint:
        return declared_tag
    short = count_words(sample) < SHORT_TEXT_WORDS
    if short or best_score < CONFIDENT:
        return replace(declared_tag, disagrees=not short)
    return LanguageTag(best, best_score / weight, "text", declared=hint, disagrees=True)


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
