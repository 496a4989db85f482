"""Text from fetched bytes: the one decoder of pages and feeds.

Labels are often wrong (a server that says UTF-8 for every file, a CMS template that says
ISO-8859-1 over Polish text) or missing, so, as browsers do, `decode` weighs what is
declared against the bytes themselves:

1. a byte-order mark decides (UTF-8, UTF-16, UTF-32); so does UTF-16 without a BOM, which
   shows as a NUL after or before every byte of a document starting "<";
2. else the first declared label that fits the bytes: the HTTP header's charset, then the
   document's own (`<?xml encoding>` at its start, `<meta charset>` or `http-equiv` in its
   first 2 KB). A label fits unless decoding with it yields more broken sequences than
   characters: a declared UTF-8 that does not decode is a lie, not a reason to print
   U+FFFD for every letter. Valid non-ASCII UTF-8 beats any ASCII-compatible label:
   legacy-encoded text is practically never valid UTF-8, and mislabelled UTF-8 is common;
3. else UTF-8 if the bytes are (mostly) UTF-8;
4. else charset-normalizer's guess among the encodings of the WHATWG Encoding Standard
   (what browsers decode), else windows-1252.

Labels mean what they mean on the web: ISO-8859-1 and ASCII are windows-1252, GB2312 is
GB18030. Never raises: undecodable bytes become U+FFFD.
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer

__all__ = ["decode"]

_BOMS = (  # UTF-32 LE before UTF-16 LE: its BOM begins with UTF-16 LE's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_UTF16_LE = re.compile(rb"[^\x00]\x00[^\x00]\x00")  # "<?" or "<h" in UTF-16 LE
_UTF16_BE = re.compile(rb"\x00[^\x00]\x00[^\x00]")
_XML_ENCODING = re.compile(rb"""\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([\w.:-]{1,40})["']""")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-z0-9_.:-]+)""", re.IGNORECASE)
_DOCUMENT_HEAD = 2048
# WHATWG Encoding Standard: what these labels mean on the web.
_WEB_ALIASES = {"iso8859-1": "cp1252", "ascii": "cp1252", "gb2312": "gb18030"}
# The WHATWG encodings, as Python names them, the most used on the web first: the detector
# chooses among these only (left free, it answers EBCDIC or a DOS code page for a short
# text), and of its equally good answers the first here wins. charset-normalizer cannot tell
# windows-1250 from windows-1252 on "Zürich, café" (both decode it cleanly, though not
# alike: Ñ is Ń in windows-1250), nor ISO-8859-2 from ISO-8859-10 on a short Polish text.
_WEB_ENCODINGS = [
    "utf_8", "cp1252", "cp1251", "cp1250", "iso8859_2", "shift_jis", "gb18030", "euc_kr",
    "euc_jp", "big5", "cp1256", "cp1253", "cp1254", "cp1255", "cp1257", "iso8859_15",
    "koi8_r", "koi8_u", "cp874", "cp1258", "iso8859_5", "iso8859_7", "iso8859_6",
    "iso8859_8", "cp866", "iso8859_13", "iso8859_16", "iso8859_4", "iso8859_3",
    "iso8859_10", "iso8859_14", "mac_roman", "mac_cyrillic", "iso2022_jp",
]  # fmt: skip
# Answers of the detector within this much coherence of its most coherent one (at the least
# chaos) count as equally good.
_COHERENCE_TIE = 0.1
# The detector reads this much: a page's first 64 KB show its encoding as well as all of it.
_DETECTOR_SAMPLE = 64 * 1024


def decode(content: bytes, declared_charset: str | None = None) -> str:
    """The text of a fetched page or feed document; `declared_charset` is the HTTP header's."""
    codec, text = _decoded(content, declared_charset)
    return text if text is not None else content[_bom_length(content) :].decode(codec, "replace")


def encoding_of(content: bytes, declared_charset: str | None = None) -> str:
    """The Python codec `decode` uses for `content` (see the module docstring)."""
    return _decoded(content, declared_charset)[0]


def _decoded(content: bytes, declared_charset: str | None) -> tuple[str, str | None]:
    """The codec for `content`, and its text where telling the codec decoded it already:
    a page is decoded once, not once to check a label and again to read it."""
    for bom, codec in _BOMS:
        if content.startswith(bom):
            return codec, None
    if _UTF16_LE.match(content):
        return "utf-16-le", None
    if _UTF16_BE.match(content):
        return "utf-16-be", None
    for codec in _declared_codecs(content, declared_charset):
        if _is_ascii_compatible(codec) and not content.isascii():
            utf8 = _as_utf8(content)
            if utf8 is not None:
                return "utf-8", utf8
        text = _fitting_text(content, codec)
        if text is not None:
            return codec, text
    text = _fitting_text(content, "utf-8")
    if text is not None:
        return "utf-8", text
    return _detected(content) or "cp1252", None


def _bom_length(content: bytes) -> int:
    return next((len(bom) for bom, _ in _BOMS if content.startswith(bom)), 0)


def _declared_codecs(content: bytes, header: str | None) -> list[str]:
    """The codecs the header and then the document declare, known labels only, in order."""
    declared = [_codec(header)]
    found = _XML_ENCODING.match(content) or _META_CHARSET.search(content[:_DOCUMENT_HEAD])
    label = found.group(1) if found else None
    # A label inside a document read as ASCII cannot be UTF-16, UTF-7 or EBCDIC.
    inner = _codec(label.decode("ascii")) if label else None
    declared.append(inner if inner and _is_ascii_compatible(inner) else None)
    return list(dict.fromkeys(codec for codec in declared if codec))


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    try:
        info = codecs.lookup(label.strip().strip("\"'"))
    except LookupError:
        return None
    if not info._is_text_encoding:  # e.g. "base64"
        return None
    return _WEB_ALIASES.get(info.name, info.name)


def _is_ascii_compatible(codec: str) -> bool:
    try:
        return "<?xml charset=".encode(codec) == b"<?xml charset="
    except (UnicodeError, LookupError):
        return False


def _as_utf8(content: bytes) -> str | None:
    """`content` as UTF-8, or None if it is not valid UTF-8."""
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _fitting_text(content: bytes, codec: str) -> str | None:
    """`content` decoded with `codec`, unless that breaks more sequences than it makes
    characters (then None).

    Tolerates the stray byte of another encoding in a UTF-8 page (one U+FFFD among many
    good letters); a windows-1251 page read as UTF-8 is almost nothing but broken sequences.
    """
    text = content.decode(codec, "replace")
    encoded_ffd = "\ufffd".encode(codec, "ignore")  # a U+FFFD the document really has
    broken = text.count("\ufffd") - (content.count(encoded_ffd) if encoded_ffd else 0)
    if broken <= 0:
        return text
    letters = sum(1 for char in text if char > "\x7f") - text.count("\ufffd")
    return text if letters > broken else None


def _detected(content: bytes) -> str | None:
    """charset-normalizer's least chaotic, most coherent answer, by web usage on a tie."""
    sample = content[:_DETECTOR_SAMPLE]
    if len(content) > _DETECTOR_SAMPLE:  # never end the sample in the middle of a character
        sample = sample[: sample.rfind(b"\n") + 1] or sample
    matches = list(charset_normalizer.from_bytes(sample, cp_isolation=_WEB_ENCODINGS))
    if not matches:
        return None
    least_chaos = min(match.chaos for match in matches)
    calm = [match for match in matches if match.chaos == least_chaos]
    most_coherent = max(match.coherence for match in calm)
    good = {m.encoding for m in calm if m.coherence >= most_coherent - _COHERENCE_TIE}
    best = min(good, key=lambda name: _rank(name))
    codec = _codec(best)
    return codec if codec and codec != "utf-8" else None  # not UTF-8: ruled out above


def _rank(encoding: str) -> int:
    return _WEB_ENCODINGS.index(encoding) if encoding in _WEB_ENCODINGS else len(_WEB_ENCODINGS)
