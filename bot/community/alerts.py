"""Alerts on saved papers, as lines of the daily DM: a new arXiv version (with its comment,
e.g. "camera-ready"), a DOI or journal reference (published), code appearing on Hugging Face.

The changes themselves are recorded once each in `paper_updates` when a feed brings them
(bot/merge.py), queued once per bookmarker and sent once (bot/notify.py, bot/store/readers.py).
"""

from __future__ import annotations

from typing import Protocol

from bot.merge import StoredPaper
from bot.present import escape_markdown, md_link, trim


class Update(Protocol):
    paper: StoredPaper
    kind: str
    old: str | None
    new: str | None


def describe_update(update: Update) -> str:
    """One bookmark alert, linked to the paper; bounded (~330 characters) for the DM's field."""
    paper = update.paper
    link = md_link(trim(paper.title, 90), paper.abs_url or paper.hf_url)
    if update.kind == "version":
        change = f"{update.old} → {update.new}" if update.old else (update.new or "")
        text = f"🆕 new version {escape_markdown(trim(change, 40))}"
        if paper.comment:
            text += f" · “{escape_markdown(trim(paper.comment, 120))}”"
    elif update.kind == "doi":
        text = f"📗 published: DOI {escape_markdown(trim(update.new or '', 100))}"
    elif update.kind == "journal_ref":
        text = f"📗 published in {escape_markdown(trim(update.new or '', 120))}"
    elif update.kind == "code":
        url = update.new or paper.code_url
        label = trim((url or "").removeprefix("https://").removeprefix("github.com/"), 60)
        stars = f" ★ {paper.github_stars}" if paper.github_stars else ""
        text = f"💻 code on Hugging Face: {md_link(label, url)}{stars}"
    else:
        text = f"{escape_markdown(update.kind)} {escape_markdown(trim(update.new or '', 80))}"
    return f"{link}: {text}"
