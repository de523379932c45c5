"""JSON Feed (https://jsonfeed.org, versions 1 and 1.1): items become the generic parser's entries.

Each item is mapped onto the shape feedparser gives an RSS/Atom entry, so identity (an arXiv
id, a DOI, else a hash of the item's id), authors, dates and summaries follow exactly the rules
of bot/sources/generic.py.
"""

from __future__ import annotations

import json
from typing import Any

from bot.models import FeedKind, PaperRecord, ParsedFeed
from bot.sources.common import fail


def is_json_feed(head: bytes) -> bool:
    return head[:1] == b"{" and b"jsonfeed.org/version" in head[:4096]


def _authors(node: dict[str, Any]) -> list[dict[str, str]]:
    found = node.get("authors")
    if not isinstance(found, list):
        single = node.get("author")  # version 1
        found = [single] if isinstance(single, dict) else []
    return [{"name": a["name"]} for a in found if isinstance(a, dict) and isinstance(a.get("name"), str)]


def _entry(item: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    for source, target in (("id", "id"), ("url", "link"), ("title", "title"),
                           ("date_published", "published"), ("date_modified", "updated")):
        value = item.get(source)
        if isinstance(value, str | int) and not isinstance(value, bool):
            entry[target] = str(value)
    html, text, summary = item.get("content_html"), item.get("content_text"), item.get("summary")
    if isinstance(summary, str) and summary.strip():
        entry["summary"], entry["summary_detail"] = summary, {"type": "text/plain"}
    elif isinstance(html, str) and html.strip():
        entry["summary"], entry["summary_detail"] = html, {"type": "text/html"}
    elif isinstance(text, str):
        entry["summary"], entry["summary_detail"] = text, {"type": "text/plain"}
    links = []
    if isinstance(item.get("external_url"), str):
        links.append({"href": item["external_url"]})
    for attachment in item.get("attachments") or []:
        if isinstance(attachment, dict) and isinstance(attachment.get("url"), str):
            links.append({"href": attachment["url"], "type": attachment.get("mime_type")})
    entry["links"] = links
    entry["authors"] = _authors(item)
    entry["tags"] = [{"term": t} for t in item.get("tags") or [] if isinstance(t, str)]
    return entry


def parse_json_feed(body: bytes) -> ParsedFeed:
    from bot.sources.generic import entry_to_record  # the generic parser's rules, one place

    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise fail(f"invalid JSON Feed ({error})", body) from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise fail("JSON without a JSON Feed `items` list", body)
    feed_authors = [a["name"] for a in _authors(data)]
    papers: list[PaperRecord] = []
    skipped = 0
    for item in data["items"]:
        record = entry_to_record(_entry(item), feed_authors) if isinstance(item, dict) else None
        if record is None:
            skipped += 1
        else:
            papers.append(record)
    title = data.get("title")
    return ParsedFeed(kind=FeedKind.RSS, papers=papers,
                      title=" ".join(title.split()) if isinstance(title, str) and title.strip() else None,
                      skipped_items=skipped)
