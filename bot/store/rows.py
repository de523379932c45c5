"""Row helpers shared by the repository modules: the papers table's columns and conversions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.merge import StoredPaper
from bot.models import FeedKind
from bot.timeutil import date_from_db, date_to_db, from_db, to_db

CHUNK = 500  # keys per IN (...) list

PAPER_COLUMNS = (
    "id", "key", "arxiv_id", "version", "title", "authors", "abstract", "categories",
    "core_source", "announced", "submitted", "updated", "abs_url", "pdf_url", "hf_url",
    "code_url", "project_url", "doi", "journal_ref", "comment", "hf_upvotes", "hf_ai_summary",
    "hf_ai_keywords", "github_repo", "github_stars", "hf_comments", "hf_date", "first_seen",
    "last_changed", "arxiv_announced", "other_announced", "hf_thumbnail",
)
SELECT_PAPER = "SELECT " + ", ".join(f"p.{c}" for c in PAPER_COLUMNS) + " FROM papers p"
WRITE_COLUMNS = tuple(c for c in PAPER_COLUMNS if c not in ("id", "first_seen"))


def json_list(values: Sequence[str]) -> str:
    return json.dumps(list(values), ensure_ascii=False)


def paper_from_row(row: Sequence[Any]) -> StoredPaper:
    data = dict(zip(PAPER_COLUMNS, row, strict=False))
    return StoredPaper(
        id=data["id"],
        key=data["key"],
        arxiv_id=data["arxiv_id"],
        version=data["version"],
        title=data["title"],
        authors=json.loads(data["authors"]),
        abstract=data["abstract"],
        categories=json.loads(data["categories"]),
        core_source=FeedKind(data["core_source"]),
        announced=date_from_db(data["announced"]),
        submitted=from_db(data["submitted"]),
        updated=from_db(data["updated"]),
        abs_url=data["abs_url"],
        pdf_url=data["pdf_url"],
        hf_url=data["hf_url"],
        code_url=data["code_url"],
        project_url=data["project_url"],
        doi=data["doi"],
        journal_ref=data["journal_ref"],
        comment=data["comment"],
        hf_upvotes=data["hf_upvotes"],
        hf_ai_summary=data["hf_ai_summary"],
        hf_ai_keywords=json.loads(data["hf_ai_keywords"]),
        github_repo=data["github_repo"],
        github_stars=data["github_stars"],
        hf_comments=data["hf_comments"],
        hf_date=date_from_db(data["hf_date"]),
        first_seen=from_db(data["first_seen"]),
        last_changed=from_db(data["last_changed"]),
        arxiv_announced=date_from_db(data["arxiv_announced"]),
        other_announced=date_from_db(data["other_announced"]),
        hf_thumbnail=data.get("hf_thumbnail"),
    )


def paper_values(paper: StoredPaper, now: datetime) -> dict[str, Any]:
    return {
        "key": paper.key,
        "arxiv_id": paper.arxiv_id,
        "version": paper.version,
        "title": paper.title,
        "authors": json_list(paper.authors),
        "abstract": paper.abstract,
        "categories": json_list(paper.categories),
        "core_source": str(paper.core_source),
        "announced": date_to_db(paper.announced),
        "submitted": to_db(paper.submitted),
        "updated": to_db(paper.updated),
        "abs_url": paper.abs_url,
        "pdf_url": paper.pdf_url,
        "hf_url": paper.hf_url,
        "code_url": paper.code_url,
        "project_url": paper.project_url,
        "doi": paper.doi,
        "journal_ref": paper.journal_ref,
        "comment": paper.comment,
        "hf_upvotes": paper.hf_upvotes,
        "hf_ai_summary": paper.hf_ai_summary,
        "hf_ai_keywords": json_list(paper.hf_ai_keywords),
        "github_repo": paper.github_repo,
        "github_stars": paper.github_stars,
        "hf_comments": paper.hf_comments,
        "hf_date": date_to_db(paper.hf_date),
        "first_seen": to_db(paper.first_seen or now),
        "last_changed": to_db(now),
        "arxiv_announced": date_to_db(paper.arxiv_announced),
        "other_announced": date_to_db(paper.other_announced),
        "hf_thumbnail": paper.hf_thumbnail,
        "primary_category": paper.primary_category,
    }



def category_clause(categories: Sequence[str]) -> tuple[str, list[Any]]:
    """SQL restricting `p` to papers in any of the categories ('cs' = every cs.* category)."""
    if not categories:
        return "", []
    parts: list[str] = []
    params: list[Any] = []
    for category in categories:
        if "." in category:
            parts.append("c.category = ?")
            params.append(category)
        else:
            # An archive: 'cs' covers 'cs.AI', 'cs.LG'... and an unsplit archive such as 'hep-th'.
            parts.append("(c.category = ? OR (c.category >= ? AND c.category < ?))")
            params += [category, category + ".", category + "/"]
    clause = (
        " AND EXISTS (SELECT 1 FROM paper_categories c WHERE c.paper_id = p.id AND ("
        + " OR ".join(parts) + "))"
    )
    return clause, params
