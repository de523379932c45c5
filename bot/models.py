"""The normalized records that flow from parsers to the store.

Every source format (arXiv RSS/RDF/Atom, arXiv API, Hugging Face Daily Papers,
generic RSS/Atom) is parsed into these plain dataclasses, so the store, the
digest and search never care where a paper came from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class FeedKind(StrEnum):
    """The parser a feed needs; `rss` is any other RSS/Atom feed (feedparser)."""

    ARXIV_RSS = "arxiv-rss"
    ARXIV_API = "arxiv-api"
    HF_DAILY = "hf-daily"
    RSS = "rss"


class AnnounceType(StrEnum):
    """arXiv's announce types. Only NEW and CROSS are news; the others are updates."""

    NEW = "new"
    CROSS = "cross"
    REPLACE = "replace"
    REPLACE_CROSS = "replace-cross"

    @property
    def is_update(self) -> bool:
        return self in (AnnounceType.REPLACE, AnnounceType.REPLACE_CROSS)


@dataclass(slots=True)
class PaperRecord:
    """One paper as one source describes it.

    `key` is the paper's identity across sources: the arXiv id without version
    (`2405.12345`, `nlin/0408039`) for arXiv papers, else a stable key derived
    from the item's guid or link (`rss:<sha1>`).
    """

    key: str
    title: str
    source: FeedKind
    authors: list[str] = field(default_factory=list)
    abstract: str = ""
    arxiv_id: str | None = None  # same as key for arXiv papers
    version: int | None = None
    categories: list[str] = field(default_factory=list)  # primary first
    announce_type: AnnounceType | None = None
    announced: date | None = None  # the listing's announcement date
    submitted: datetime | None = None  # first version (arXiv `published`)
    updated: datetime | None = None  # this version
    abs_url: str | None = None
    pdf_url: str | None = None
    hf_url: str | None = None
    code_url: str | None = None
    project_url: str | None = None
    doi: str | None = None
    journal_ref: str | None = None
    comment: str | None = None
    # Hugging Face Daily Papers signals
    hf_upvotes: int | None = None
    hf_ai_summary: str | None = None
    hf_ai_keywords: list[str] = field(default_factory=list)
    github_repo: str | None = None
    github_stars: int | None = None
    hf_comments: int | None = None
    hf_date: date | None = None  # the day it was featured on Daily Papers
    hf_thumbnail: str | None = None  # the paper's image on Daily Papers


@dataclass(slots=True)
class ParsedFeed:
    """What one fetched body held: the listing's date and its papers, in feed order."""

    kind: FeedKind
    papers: list[PaperRecord]
    title: str | None = None
    feed_date: date | None = None  # announcement date of an arXiv listing / HF day
    total_results: int | None = None  # arXiv API opensearch:totalResults
    skipped_items: int = 0  # items that could not be turned into a paper (phantoms, no id)
    notes: list[str] = field(default_factory=list)  # repairs made to read it (invalid UTF-8...)

    def fingerprint(self) -> str:
        """The listing's item set. Two consecutive batches with equal fingerprints: a stale batch.

        Hugging Face signals are part of it: a day's list whose upvotes moved is worth storing.
        """
        lines = sorted(
            f"{p.key}\t{p.version or ''}\t{p.announce_type or ''}\t{p.hf_upvotes or ''}"
            f"\t{p.hf_comments or ''}\t{p.github_stars or ''}"
            for p in self.papers
        )
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()


class FeedFormatError(ValueError):
    """The body is not a feed of the expected kind (an HTML error page, `Rate exceeded.`)."""
