"""Merging what several sources say about one paper. Pure: no I/O.

Rules, in words:
- arXiv (RSS or API) is the authority on title, authors, abstract and
  categories; Hugging Face and other feeds fill them only for papers arXiv has
  not described to us.
- An older version never overwrites a newer one (a stale listing re-read).
- Hugging Face owns its signals (upvotes, AI summary, keywords, repo, stars).
- A new version, a new DOI or a new journal reference is recorded as an
  update, so bookmarkers can hear about it; it is never a new paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime

from bot.models import AnnounceType, FeedKind, PaperRecord

# Higher wins for the descriptive fields.
_AUTHORITY = {FeedKind.ARXIV_RSS: 3, FeedKind.ARXIV_API: 3, FeedKind.HF_DAILY: 2, FeedKind.RSS: 1}

CORE_FIELDS = ("title", "authors", "abstract", "categories")
INDEXED_FIELDS = ("title", "authors", "abstract")
HF_FIELDS = (
    "hf_upvotes",
    "hf_ai_summary",
    "hf_ai_keywords",
    "github_repo",
    "github_stars",
    "hf_comments",
    "hf_url",
    "project_url",
    "hf_thumbnail",
)


@dataclass(slots=True)
class StoredPaper:
    """A paper as the store holds it: the merged view of every source."""

    key: str
    title: str
    core_source: FeedKind
    authors: list[str] = field(default_factory=list)
    abstract: str = ""
    arxiv_id: str | None = None
    version: int | None = None
    categories: list[str] = field(default_factory=list)
    announced: date | None = None  # arxiv_announced, else other_announced (see _announce_dates)
    submitted: datetime | None = None
    updated: datetime | None = None
    abs_url: str | None = None
    pdf_url: str | None = None
    hf_url: str | None = None
    code_url: str | None = None
    project_url: str | None = None
    doi: str | None = None
    journal_ref: str | None = None
    comment: str | None = None
    hf_upvotes: int | None = None
    hf_ai_summary: str | None = None
    hf_ai_keywords: list[str] = field(default_factory=list)
    github_repo: str | None = None
    github_stars: int | None = None
    hf_comments: int | None = None
    hf_date: date | None = None
    hf_thumbnail: str | None = None
    arxiv_announced: date | None = None  # earliest new/cross arXiv listing
    other_announced: date | None = None  # earliest date any other record gave
    id: int | None = None
    first_seen: datetime | None = None
    last_changed: datetime | None = None

    @property
    def primary_category(self) -> str | None:
        return self.categories[0] if self.categories else None

    @property
    def has_code(self) -> bool:
        return self.code_url is not None


@dataclass(frozen=True, slots=True)
class PaperChange:
    """One change worth telling people about."""

    kind: str  # version | doi | journal_ref
    old: str | None
    new: str | None


@dataclass(slots=True)
class MergeResult:
    paper: StoredPaper
    is_new: bool
    changed: bool  # any stored field differs
    reindex: bool  # a full-text field differs
    changes: list[PaperChange]


def _announce_dates(record: PaperRecord) -> tuple[date | None, date | None]:
    """(arXiv announcement, other date) that a record offers on its own.

    Only a new or cross listing announces a paper on arXiv; a replacement listing says
    nothing about when v1 appeared. Records without an announce type (API, Hugging
    Face, other feeds) offer their submission, Daily-Papers or item date.
    """
    if record.announce_type in (AnnounceType.NEW, AnnounceType.CROSS):
        return record.announced, None
    if record.announce_type is None:
        if record.submitted:
            return None, record.submitted.date()
        return None, record.hf_date or record.announced
    return None, None


def _earliest(a: date | None, b: date | None) -> date | None:
    return b if a is None else a if b is None else min(a, b)


def _settle_announced(paper: StoredPaper) -> None:
    """The rule (README, Design): the earliest arXiv announcement if any, else the earliest
    other date. Minima of both kinds are kept, so the arrival order never matters."""
    paper.announced = paper.arxiv_announced or paper.other_announced


def _from_record(record: PaperRecord) -> StoredPaper:
    stored = StoredPaper(key=record.key, title=record.title, core_source=record.source)
    for name in (f.name for f in fields(StoredPaper)):
        if hasattr(record, name) and name not in ("announced", "core_source"):
            setattr(stored, name, getattr(record, name))
    stored.authors = list(record.authors)
    stored.categories = list(record.categories)
    stored.hf_ai_keywords = list(record.hf_ai_keywords)
    stored.arxiv_announced, stored.other_announced = _announce_dates(record)
    _settle_announced(stored)
    if stored.code_url is None and record.github_repo:
        stored.code_url = record.github_repo
    return stored


def _category_union(a: list[str], b: list[str]) -> list[str]:
    """Primary first (it does not change within a version), then the others sorted."""
    if not a or not b:
        return list(a or b)
    primary = a[0]
    return [primary, *sorted((set(a) | set(b)) - {primary})]


def merge(existing: StoredPaper | None, record: PaperRecord) -> MergeResult:
    """Fold one source's record into the stored paper."""
    if existing is None:
        paper = _from_record(record)
        return MergeResult(paper, is_new=True, changed=True, reindex=True, changes=[])

    paper = replace(
        existing,
        authors=list(existing.authors),
        categories=list(existing.categories),
        hf_ai_keywords=list(existing.hf_ai_keywords),
    )
    changes: list[PaperChange] = []
    incoming_rank = _AUTHORITY[record.source]
    stored_rank = _AUTHORITY[existing.core_source]
    older_version = (
        record.version is not None
        and existing.version is not None
        and record.version < existing.version
    )

    # Descriptive fields: the most authoritative source wins; older versions never do.
    if incoming_rank >= stored_rank and not older_version:
        for name in CORE_FIELDS:
            value = getattr(record, name)
            if value:  # never blank out what we know
                setattr(paper, name, list(value) if isinstance(value, list) else value)
        if incoming_rank == stored_rank and record.version == existing.version:
            # The same version listed twice (cs.CL on Monday, cross-listed into cs.AI on
            # Thursday): its categories are all the listings' categories, whatever the order.
            paper.categories = _category_union(existing.categories, record.categories)
        paper.core_source = record.source if incoming_rank > stored_rank else paper.core_source
        if record.comment:
            paper.comment = record.comment
    else:
        for name in CORE_FIELDS:
            if not getattr(paper, name) and getattr(record, name):
                value = getattr(record, name)
                setattr(paper, name, list(value) if isinstance(value, list) else value)

    if record.version is not None and (existing.version is None or record.version > existing.version):
        if existing.version is not None:
            changes.append(PaperChange("version", f"v{existing.version}", f"v{record.version}"))
        paper.version = record.version
        if record.updated:
            paper.updated = record.updated

    if record.arxiv_id and not paper.arxiv_id:
        paper.arxiv_id = record.arxiv_id
    for name in ("abs_url", "pdf_url", "submitted"):
        if getattr(paper, name) is None and getattr(record, name) is not None:
            setattr(paper, name, getattr(record, name))
    if paper.updated is None and record.updated is not None:
        paper.updated = record.updated

    for name in ("doi", "journal_ref"):
        value = getattr(record, name)
        if value and value != getattr(existing, name) and not older_version:
            changes.append(PaperChange(name, getattr(existing, name), value))
            setattr(paper, name, value)

    # Hugging Face signals: the latest HF record is the truth for them.
    if record.source is FeedKind.HF_DAILY:
        for name in HF_FIELDS:
            value = getattr(record, name)
            if value is not None and value != []:
                setattr(paper, name, list(value) if isinstance(value, list) else value)
        if record.hf_date and (paper.hf_date is None or record.hf_date < paper.hf_date):
            paper.hf_date = record.hf_date
    if record.code_url and paper.code_url is None:
        paper.code_url = record.code_url
    if paper.code_url is None and paper.github_repo:
        paper.code_url = paper.github_repo
    if record.project_url and paper.project_url is None:
        paper.project_url = record.project_url
    if existing.code_url is None and paper.code_url is not None:
        changes.append(PaperChange("code", None, paper.code_url))  # code appeared: bookmarkers hear

    arxiv_day, other_day = _announce_dates(record)
    paper.arxiv_announced = _earliest(paper.arxiv_announced, arxiv_day)
    paper.other_announced = _earliest(paper.other_announced, other_day)
    _settle_announced(paper)

    changed = any(
        getattr(paper, f.name) != getattr(existing, f.name)
        for f in fields(StoredPaper)
        if f.name not in ("id", "first_seen", "last_changed")
    )
    reindex = any(getattr(paper, name) != getattr(existing, name) for name in INDEXED_FIELDS)
    return MergeResult(paper, is_new=False, changed=changed, reindex=reindex, changes=changes)
