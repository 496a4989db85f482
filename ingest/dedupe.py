"""Article identity: canonical URL, document id and content fingerprint.

The document id is derived from the canonical URL, so the same link met again (another
feed, a later poll, a retry, with or without tracking parameters) is the same document.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import urlsplit, urlunsplit

import courlan


def canonical_url(url: str) -> str:
    """Normalise a link: lower-case host, trackers (utm_*, fbclid, ref ...) and fragment removed.

    courlan's non-strict mode drops known tracking parameters and keeps the others sorted;
    its strict mode also drops unknown parameters such as `?article=77`, which would merge
    distinct articles, so it is not used.
    """
    normalised = courlan.normalize_url(url.strip())
    parts = urlsplit(normalised)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


def document_id(canonical: str) -> str:
    """The Elasticsearch `_id` of the article at this canonical URL."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:40]


def domain_of(url: str) -> str:
    """The host of a URL without port and leading `www.`."""
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


_NON_WORD = re.compile(r"\W+")


def content_hash(text: str) -> str | None:
    """Hash of the text with case, punctuation and spacing folded: exact re-posts share it."""
    folded = _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    if not folded:
        return None
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()[:40]
