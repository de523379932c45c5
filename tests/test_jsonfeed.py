"""JSON Feed (jsonfeed.org 1 and 1.1) read like any RSS/Atom feed."""

from __future__ import annotations

import json

import pytest

from bot.models import FeedFormatError, FeedKind
from bot.sources import detect_kind, parse_feed

FEED = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Lab   Notes",
    "authors": [{"name": "The Lab"}],
    "items": [
        {"id": "https://lab.example.org/p/1", "url": "https://lab.example.org/p/1", "title": "Our new paper",
         "content_html": "<p>We <b>released</b> code.</p>", "date_published": "2026-08-20T10:00:00+02:00",
         "authors": [{"name": "Ada Lovelace"}, {"name": "Alan Turing"}], "tags": ["ml", "nlp"],
         "external_url": "https://arxiv.org/abs/2608.12345v2"},
        {"id": "post-2", "url": "https://lab.example.org/p/2", "title": "A blog post",
         "content_text": "Plain text.", "date_modified": "2026-08-21T08:00:00Z",
         "attachments": [{"url": "https://lab.example.org/p2.pdf", "mime_type": "application/pdf"}]},
        {"title": None},
        "not an item",
    ],
}


def test_items_become_papers_by_the_generic_rules() -> None:
    body = json.dumps(FEED).encode()
    assert detect_kind(body) is FeedKind.RSS
    parsed = parse_feed(body)
    assert parsed.title == "Lab Notes"
    first, second = parsed.papers
    assert first.key == "2608.12345" and first.version == 2  # an arXiv link gives the identity
    assert first.authors == ["Ada Lovelace", "Alan Turing"]
    assert first.abstract == "We released code."
    assert first.categories == ["ml", "nlp"]
    assert first.submitted is not None and first.submitted.utcoffset().total_seconds() == 7200
    assert second.key.startswith("rss:") and second.abs_url == "https://lab.example.org/p/2"
    assert second.authors == ["The Lab"]  # the feed's author stands for items without one
    assert second.pdf_url == "https://lab.example.org/p2.pdf"
    assert parsed.skipped_items == 2


def test_version_1_author_and_bad_json_feeds() -> None:
    v1 = {"version": "https://jsonfeed.org/version/1", "title": "Old",
          "items": [{"id": "1", "url": "https://x.example/1", "title": "T",
                     "author": {"name": "Solo Writer"}}]}
    [paper] = parse_feed(json.dumps(v1).encode()).papers
    assert paper.authors == ["Solo Writer"]
    with pytest.raises(FeedFormatError, match="JSON Feed"):
        parse_feed(b'{"version": "https://jsonfeed.org/version/1.1", "items": 3}')
    with pytest.raises(FeedFormatError):
        parse_feed(b'{"version": "https://jsonfeed.org/version/1.1", "items": [' + b"[" * 100000)
    with pytest.raises(FeedFormatError, match="nor a JSON Feed"):
        detect_kind(b'{"hello": 1}')
