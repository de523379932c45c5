"""arXiv identifiers: recognise them in ids, URLs and guids, and build canonical links.

The id without version is a paper's identity across every source (RSS guid, API
entry id, HF paper id, a blog post linking the PDF), so it must come out the same
from all of them.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["abs_url", "hf_url", "parse_arxiv_id", "pdf_url"]

# New style (2007-04 on): YYMM.NNNN (to 2014) or YYMM.NNNNN (2015 on).
_NEW = r"(?P<new>\d\d(?:0[1-9]|1[0-2])\.\d{4,5})"
# Old style: archive[.SUBJ]/YYMMNNN. The subject class is not part of the identity
# (math.GT/0309136 and math/0309136 are the same paper), so it is dropped.
_OLD = r"(?P<arch>[a-z]+(?:-[a-z]+)?)(?:\.[A-Za-z][A-Za-z-]*)?/(?P<num>\d\d(?:0[1-9]|1[0-2])\d{3})"
_ID_RE = re.compile(rf"(?:{_NEW}|{_OLD})(?:v(?P<ver>[1-9]\d*))?(?:\.pdf)?/?")
_PREFIX_RE = re.compile(r"^(?:oai:arxiv\.org:|arxiv:|(?:10\.48550/)?arxiv\.)", re.I)
_URL_PATH_RE = re.compile(r"^/(?:abs|pdf|html|format|ps|src)/(?P<rest>.+)$")
_DOI_PATH_RE = re.compile(r"^/10\.48550/arxiv\.(?P<rest>.+)$", re.I)


def _match_id(text: str) -> tuple[str, int | None] | None:
    m = _ID_RE.fullmatch(text)
    if m is None:
        return None
    paper = m.group("new") or f"{m.group('arch')}/{m.group('num')}"
    ver = m.group("ver")
    return paper, int(ver) if ver else None


def parse_arxiv_id(text: str) -> tuple[str, int | None] | None:
    """`(id, version)` from an arXiv id, guid or URL; None when it is not one.

    Accepts `2405.12345v2`, `arXiv:1706.03762`, `oai:arXiv.org:nlin/0408039v2`,
    `math.GT/0309136` (-> `math/0309136`), abs/pdf/html URLs on arxiv.org (any
    subdomain, http or https, with or without `.pdf`) and the arXiv DOI
    `10.48550/arXiv.2405.12345` (bare or as a doi.org URL). The whole string must be
    the id: free text that merely mentions one is not an id.
    """
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not text or len(text) > 300:
        return None
    lowered = text.lower()
    if lowered.startswith(("arxiv.org/", "www.arxiv.org/", "export.arxiv.org/")):
        text = "https://" + text
        lowered = "https://" + lowered
    if "://" in text:
        if not lowered.startswith(("http://", "https://")):
            return None
        try:
            parts = urlsplit(text)
            host = (parts.hostname or "").lower()
        except ValueError:
            return None
        if host == "arxiv.org" or host.endswith(".arxiv.org"):
            m = _URL_PATH_RE.match(parts.path)
            return _match_id(m.group("rest")) if m else None
        if host in ("doi.org", "dx.doi.org"):
            m = _DOI_PATH_RE.match(parts.path)
            return _match_id(m.group("rest")) if m else None
        return None
    stripped = _PREFIX_RE.sub("", text, count=1)
    return _match_id(stripped)


def abs_url(arxiv_id: str) -> str:
    """Canonical abstract page (https, no version, so it stays valid after replacements)."""
    return f"https://arxiv.org/abs/{arxiv_id}"


def pdf_url(arxiv_id: str) -> str:
    """Canonical PDF link (latest version)."""
    return f"https://arxiv.org/pdf/{arxiv_id}"


def hf_url(arxiv_id: str) -> str:
    """The paper's Hugging Face Papers page."""
    return f"https://huggingface.co/papers/{arxiv_id}"
