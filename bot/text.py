"""Pure text helpers shared by the feed parsers.

Everything here is a pure function over `str` (no I/O, no global state), so it is
safe to call from worker threads. The TeX handling is deliberately small: arXiv
metadata is TeX source, and we only turn *text-mode accents* and a few escapes into
Unicode. Math (`$...$`, `\\(...\\)`, `\\[...\\]`) is left byte-for-byte alone so it
stays readable as TeX; a full LaTeX-to-text converter (pylatexenc) would eat `%` as a
comment and mangle the math.
"""

from __future__ import annotations

import html
import re
import unicodedata

__all__ = [
    "collapse_ws",
    "split_authors",
    "strip_html",
    "tex_to_unicode",
]


# C0/C1 control characters that str.split() does not already treat as whitespace.
_CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")


def collapse_ws(text: str) -> str:
    """Collapse every run of whitespace (newlines included) to one space and trim.

    arXiv API titles and abstracts are hard-wrapped at ~80 columns, and the legacy RSS
    wraps abstracts too; a digest wants one line.
    """
    if _CONTROL_RE.search(text):  # ESC and friends: a terminal escape in a title is an attack
        text = _CONTROL_RE.sub("", text)
    return " ".join(text.split())


# --------------------------------------------------------------------------- TeX

# Text-mode accent commands -> Unicode combining marks (composed later with NFC).
_SYMBOL_ACCENTS = {
    "'": "\u0301",  # acute
    "`": "\u0300",  # grave
    "^": "\u0302",  # circumflex
    '"': "\u0308",  # diaeresis
    "~": "\u0303",  # tilde
    "=": "\u0304",  # macron
    ".": "\u0307",  # dot above
}
_LETTER_ACCENTS = {
    "u": "\u0306",  # breve
    "v": "\u030c",  # caron
    "H": "\u030b",  # double acute
    "c": "\u0327",  # cedilla
    "k": "\u0328",  # ogonek
    "r": "\u030a",  # ring above
    "d": "\u0323",  # dot below
    "b": "\u0331",  # macron below
}
# Letters that TeX spells as control words.
_SPECIAL_LETTERS = {
    "ss": "ß",
    "aa": "å",
    "AA": "Å",
    "ae": "æ",
    "AE": "Æ",
    "oe": "œ",
    "OE": "Œ",
    "o": "ø",
    "O": "Ø",
    "l": "ł",
    "L": "Ł",
    "i": "ı",
    "j": "ȷ",
    "dh": "ð",
    "DH": "Ð",
    "th": "þ",
    "TH": "Þ",
    "ng": "ŋ",
    "NG": "Ŋ",
    "dj": "đ",
    "DJ": "Đ",
}
# As the *base* of an accent, dotless i/j mean plain i/j (`\'{\i}` is í).
_ACCENT_BASE_MACROS = {**_SPECIAL_LETTERS, "i": "i", "j": "j"}

_BASE = r"(?:[A-Za-z]|\\(?:ss|aa|AA|ae|AE|oe|OE|o|O|l|L|i|j)(?![A-Za-z]))"
_SYMBOL_ACCENT_RE = re.compile(r"\\(['`^\"~=.])\s*(?:\{\s*(" + _BASE + r")\s*\}|(" + _BASE + r"))")
# Letter accents need a brace group or a space before the base (`\c{S}`, `\c S`),
# otherwise `\cite`, `\beta`, `\vec` would match.
_LETTER_ACCENT_RE = re.compile(r"\\([uvHckrdb])(?:\s*\{\s*(" + _BASE + r")\s*\}|\s+(" + _BASE + r"))")
_SPECIAL_LETTER_RE = re.compile(
    r"\\(ss|aa|AA|ae|AE|oe|OE|dh|DH|th|TH|ng|NG|dj|DJ|o|O|l|L|i|j)(?![A-Za-z])(?:\{\}| (?=[A-Za-z]))?"
)
_ESCAPES_RE = re.compile(r"\\([&%_#])")
# Greek letters and text symbols braced outside math (`{\lambda}Split`, `Med-URWKV{\dag}`).
_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ϵ", "zeta": "ζ",
    "eta": "η", "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν",
    "xi": "ξ", "pi": "π",
    "rho": "ρ", "sigma": "σ", "tau": "τ", "upsilon": "υ", "phi": "φ", "chi": "χ", "psi": "ψ",
    "omega": "ω", "varepsilon": "ε", "vartheta": "ϑ", "varphi": "ϕ", "varrho": "ϱ",
    "varsigma": "ς", "varpi": "ϖ", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ",
    "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ", "Upsilon": "Υ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
    "dag": "†", "ddag": "‡", "textdagger": "†", "textdaggerdbl": "‡", "S": "§", "P": "¶",
    "pounds": "£", "copyright": "©", "textregistered": "®", "texttrademark": "™",
    "ldots": "…", "dots": "…", "textbullet": "•", "textendash": "–", "textemdash": "—",
}
# Only the braced forms, which are unambiguous text: a bare `\beta` stays as written.
_SYMBOL_NAMES = "|".join(sorted(_SYMBOLS, key=len, reverse=True))
_SYMBOL_RE = re.compile(r"\{\\(" + _SYMBOL_NAMES + r")\}|\\(" + _SYMBOL_NAMES + r")\{\}")
# A brace group around one converted (non-ASCII) letter: `{ö}` left over from `{\"o}`.
_BRACED_CHAR_RE = re.compile(r"\{([^\x00-\x7f{}\\][\u0300-\u036f]*|[A-Za-z][\u0300-\u036f]+)\}")
# Math segments, and escaped `\$`/`\\` which must not open one.
_MATH_OR_ESCAPE_RE = re.compile(r"\\[\\$]|\$\$.+?\$\$|\$(?:\\.|[^$\\])+\$|\\\(.+?\\\)|\\\[.+?\\\]", re.S)


def _accent_base(token: str) -> str:
    return _ACCENT_BASE_MACROS[token[1:]] if token.startswith("\\") else token


def _sub_symbol_accent(m: re.Match[str]) -> str:
    base = _accent_base(m.group(2) or m.group(3))
    return unicodedata.normalize("NFC", base + _SYMBOL_ACCENTS[m.group(1)])


def _sub_letter_accent(m: re.Match[str]) -> str:
    base = _accent_base(m.group(2) or m.group(3))
    return unicodedata.normalize("NFC", base + _LETTER_ACCENTS[m.group(1)])


def _tex_text_segment(text: str) -> str:
    """Convert accents/escapes in a segment known to be outside math."""
    if "\\" not in text:
        return text
    text = _SYMBOL_ACCENT_RE.sub(_sub_symbol_accent, text)
    text = _LETTER_ACCENT_RE.sub(_sub_letter_accent, text)
    text = _SPECIAL_LETTER_RE.sub(lambda m: _SPECIAL_LETTERS[m.group(1)], text)
    text = _SYMBOL_RE.sub(lambda m: _SYMBOLS[m.group(1) or m.group(2)], text)
    text = _ESCAPES_RE.sub(r"\1", text)
    return _BRACED_CHAR_RE.sub(r"\1", text)


def tex_to_unicode(text: str) -> str:
    """Turn TeX text-mode accents (`L\\"owe`, `\\c{S}`, `{\\'\\i}`, `{\\o}`, `\\ss`) into Unicode.

    Also unescapes `\\&`, `\\%`, `\\_`, `\\#` in text mode. Math segments are copied
    unchanged, so `MC$^2$` and `$\\ell_p$` stay readable TeX.
    """
    if "\\" not in text:
        return text
    out: list[str] = []
    pos = 0
    for m in _MATH_OR_ESCAPE_RE.finditer(text):
        out.append(_tex_text_segment(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_tex_text_segment(text[pos:]))
    return unicodedata.normalize("NFC", "".join(out))


# -------------------------------------------------------------------------- HTML

_DROP_BLOCKS_RE = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.I | re.S)
_COMMENT_RE = re.compile(r"<!--.*?-->", re.S)
_TAG_RE = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)\b[^>]*>")
# Tags that sit inside a word (`H<sub>2</sub>O`); every other tag separates words.
_INLINE_TAGS = frozenset(
    [
        "a",
        "abbr",
        "b",
        "bdi",
        "bdo",
        "big",
        "cite",
        "code",
        "del",
        "dfn",
        "em",
        "font",
        "i",
        "ins",
        "kbd",
        "mark",
        "q",
        "s",
        "samp",
        "small",
        "span",
        "strike",
        "strong",
        "sub",
        "sup",
        "tt",
        "u",
        "var",
        "wbr",
    ]
)


def _sub_tag(m: re.Match[str]) -> str:
    return "" if m.group(1).lower() in _INLINE_TAGS else " "


def strip_html(text: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, whitespace collapsed.

    Only for sources that really are HTML (legacy arXiv RDF, generic feeds). The current
    arXiv RSS abstracts are plain TeX where `<T,I,F>` is literal text, so they must not
    go through here.
    """
    if "<" in text:
        text = _DROP_BLOCKS_RE.sub(" ", text)
        text = _COMMENT_RE.sub(" ", text)
        text = _TAG_RE.sub(_sub_tag, text)
    return collapse_ws(html.unescape(text))


# ----------------------------------------------------------------------- authors

_PAREN_GROUP_RE = re.compile(r"\([^()]*\)")
_HAS_WORD_RE = re.compile(r"\w")


class _Piece:
    """One comma-separated chunk of an author string, before clean-up."""

    __slots__ = ("keyname_only", "text")

    def __init__(self, text: str, keyname_only: bool) -> None:
        self.text = text
        self.keyname_only = keyname_only


def _split_top_level(text: str, sep: str) -> list[str] | None:
    """Split on `sep` outside parentheses; None when the parentheses do not balance."""
    if "(" not in text and ")" not in text:
        return text.split(sep)
    parts: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return None
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth != 0:
        return None
    parts.append(text[start:])
    return parts


def _common_suffix(words: list[str]) -> str:
    first = words[0]
    n = len(first)
    for w in words[1:]:
        k = 0
        limit = min(n, len(w))
        while k < limit and first[-1 - k] == w[-1 - k]:
            k += 1
        n = k
        if n == 0:
            return ""
    return first[len(first) - n :]


def _repair_nickname_mangles(pieces: list[_Piece]) -> list[_Piece]:
    """Undo how arXiv's feed serializer breaks `First (Nick) Last` authors.

    arXiv joins `first + " " + last`, so an author it parsed with an empty first name
    shows up after a *double* space (`",  Zhang"`). A nickname in parentheses makes its
    author parser emit `"  Mingfang (Lucy)"` and `"  Zhang"` as two keyname-only
    authors (and copy `(Lucy)` onto all earlier authors as an affiliation). The
    early-2024 feed glued the nickname without parentheses instead:
    `"Josh AchiamRai, ...,  MichaelRai,  Pokorny"` for Michael (Rai) Pokorny.
    """
    out: list[_Piece] = []
    i = 0
    while i < len(pieces):
        cur = pieces[i]
        nxt = pieces[i + 1] if i + 1 < len(pieces) else None
        if (
            nxt is not None
            and cur.keyname_only
            and nxt.keyname_only
            and "(" not in nxt.text
            and len(nxt.text.split()) == 1
        ):
            paren = re.fullmatch(r"\s*(\S+)\s*\(([^()]*)\)\s*", cur.text)
            if paren:
                out.append(_Piece(f"{paren.group(1)} {nxt.text.strip()}", False))
                i += 2
                continue
            if len(cur.text.split()) == 1 and len(out) >= 1:
                carriers = [p.text.strip() for p in out] + [cur.text.strip()]
                suffix = _common_suffix(carriers)
                upper = next((k for k, ch in enumerate(suffix) if ch.isupper()), None)
                suffix = suffix[upper:] if upper is not None else ""
                if len(suffix) >= 2 and all(len(c) > len(suffix) for c in carriers):
                    for p in out:
                        p.text = p.text.rstrip()[: -len(suffix)]
                    first = cur.text.strip()[: -len(suffix)]
                    out.append(_Piece(f"{first} {nxt.text.strip()}", False))
                    i += 2
                    continue
        out.append(cur)
        i += 1
    return out


def _clean_name(raw: str) -> str:
    """Display name: affiliations in parentheses dropped, TeX accents converted."""
    if "(" not in raw and "\\" not in raw:
        return collapse_ws(raw).strip(",; ")
    name = raw
    while "(" in name:
        stripped = _PAREN_GROUP_RE.sub(" ", name)
        if stripped == name:
            break
        name = stripped
    if "(" in name and name.split("(", 1)[0].strip():  # unclosed affiliation: cut it off
        name = name.split("(", 1)[0]
    name = collapse_ws(name).strip(",; ")
    return tex_to_unicode(name)


_INITIALS_RE = re.compile(r"(?:[A-Z][a-z]?\.(?:\s*-\s*|\s+)?)+")
_NAME_PARTICLES = frozenset(
    ["de", "del", "della", "der", "den", "di", "da", "dos", "du", "la", "le", "van", "von", "zu",
     "y", "bin", "al", "ibn", "ter"]
)
_ORG_WORDS_RE = re.compile(
    r"\b(?:collaboration|consortium|group|team|lab|laboratory|institute|university|center|"
    r"centre|society|project|network|initiative|committee|association|council|foundation|"
    r"department|school|college|inc|ltd|corporation|company|program|programme|the|for|of)\b",
    re.I,
)


def _is_initials(text: str) -> bool:
    """`M.`, `A. K.`, `J.-P.`, `Ch.`: the given-name part of a `Surname, I.` pair."""
    return _INITIALS_RE.fullmatch(text.strip()) is not None


def _looks_like_person(text: str) -> bool:
    """`Le Hong Trang`, `Donald Johann Jr.`, `Vincent van Gogh`; not `Center for Data`."""
    words = text.split()
    if not 1 <= len(words) <= 6 or _ORG_WORDS_RE.search(text):
        return False
    return all(w[:1].isupper() or w.lower() in _NAME_PARTICLES for w in words)


def _pair_surname_initials(parts: list[str]) -> list[str] | None:
    """bioRxiv and medRxiv write `Kaur, M., Shukla, A.`: pairs, one person each."""
    if len(parts) < 2 or len(parts) % 2:
        return None
    surnames, initials = parts[0::2], parts[1::2]
    if all(_is_initials(i) for i in initials) and not any(_is_initials(n) for n in surnames):
        return [f"{i.strip()} {n.strip()}" for n, i in zip(surnames, initials, strict=True)]
    return None


def _split_and(chunk: str, *, and_joins: bool) -> list[str]:
    """`Donald Johann Jr. and Fred Prior` is two people; `A and B Collaboration` is one."""
    if " and " not in chunk:
        return [chunk]
    subparts = _split_top_level(chunk.replace(" and ", "\x00"), "\x00")
    if not subparts or len(subparts) < 2:
        return [chunk]
    if and_joins or all(_looks_like_person(_clean_name(p)) for p in subparts):
        return subparts
    return [chunk]


def split_authors(text: str, *, and_joins: bool = False) -> list[str]:
    """Split one author string into names.

    arXiv's `dc:creator` is a single comma-joined string in which commas inside
    parentheses belong to affiliations (`Name (Univ, City), Name2` is two authors).
    The parenthesized affiliation is dropped from the display name. If the string uses
    `;` outside parentheses, that is the separator (`Smith, J.; Doe, A.`). bioRxiv's
    `Kaur, M., Shukla, A.` is read as surname-initials pairs. A list may end `..., and
    Le Hong Trang` or be `A Jr. and B C`: an `and` between names that look like people
    separates them (collaboration names keep theirs). With `and_joins` (generic
    feeds), the final `A, B and C` is always split.
    """
    if not text or not text.strip():
        return []
    sep = ","
    if ";" in text:
        by_semicolon = _split_top_level(text, ";")
        if by_semicolon is not None and len(by_semicolon) > 1:
            sep = ";"
    raw_parts = _split_top_level(text, sep)
    if raw_parts is None:  # unbalanced parentheses: plain split is the best guess
        raw_parts = text.split(sep)
    if sep == ",":
        paired = _pair_surname_initials(raw_parts)
        if paired is not None:
            return [_clean_name(p) for p in paired]
    pieces = [
        _Piece(part, part.startswith("  ") or (idx == 0 and part.startswith(" ")))
        for idx, part in enumerate(raw_parts)
    ]
    if sep == "," and "  " in text:
        pieces = _repair_nickname_mangles(pieces)
    names: list[str] = []
    for n, piece in enumerate(pieces):
        chunk = collapse_ws(piece.text)
        if n > 0 and chunk.lower().startswith("and "):  # `..., and Le Hong Trang`
            chunk = chunk[4:]
        subparts = _split_and(chunk, and_joins=and_joins and n == len(pieces) - 1)
        for sub in subparts:
            cleaned = _clean_name(sub)
            if _HAS_WORD_RE.search(cleaned):  # drops "" and the ":" of "NVIDIA: A, B"
                names.append(cleaned)
    return names
