"""Small feeds in the exact shapes of the real captures, for cases the captures lack.

Each builder writes what the real service writes (element names, namespaces, date
formats, the `Announce Type` prefix), so the parsers meet the same bytes they meet
in production; only the items are chosen by the test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

REAL = Path(__file__).parent / "fixtures" / "real"


@dataclass
class Item:
    arxiv_id: str
    title: str
    announce: str = "new"
    version: int = 1
    categories: list[str] = field(default_factory=lambda: ["cs.CL"])
    creator: str = "Ada Lovelace, Alan Turing"
    abstract: str = "We study things."


def arxiv_rss(category: str, day: date, items: list[Item]) -> bytes:
    """An rss.arxiv.org listing (the format since 2024) for `category` on `day`."""
    stamp = day.strftime("%a, %d %b %Y")
    parts = [
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:atom="http://www.w3.org/2005/Atom" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' version="2.0">\n  <channel>\n'
        f"    <title>{category} updates on arXiv.org</title>\n"
        f"    <link>http://rss.arxiv.org/rss/{category}</link>\n"
        f"    <description>{category} updates on the arXiv.org e-print archive.</description>\n"
        f'    <atom:link href="http://rss.arxiv.org/rss/{category}" rel="self" type="application/rss+xml"/>\n'
        "    <docs>http://www.rssboard.org/rss-specification</docs>\n    <language>en-us</language>\n"
        f"    <lastBuildDate>{stamp} 04:00:01 +0000</lastBuildDate>\n"
        "    <managingEditor>rss-help@arxiv.org</managingEditor>\n"
        f"    <pubDate>{stamp} 00:00:00 -0400</pubDate>\n"
        "    <skipDays>\n      <day>Sunday</day>\n      <day>Saturday</day>\n    </skipDays>\n"
    ]
    for item in items:
        cats = "".join(f"      <category>{c}</category>\n" for c in item.categories)
        parts.append(
            "    <item>\n"
            f"      <title>{escape(item.title)}</title>\n"
            f"      <link>https://arxiv.org/abs/{item.arxiv_id}</link>\n"
            f"      <description>arXiv:{item.arxiv_id}v{item.version} Announce Type: {item.announce} \n"
            f"Abstract: {escape(item.abstract)}</description>\n"
            f'      <guid isPermaLink="false">oai:arXiv.org:{item.arxiv_id}v{item.version}</guid>\n'
            f"{cats}"
            f"      <pubDate>{stamp} 00:00:00 -0400</pubDate>\n"
            f"      <arxiv:announce_type>{item.announce}</arxiv:announce_type>\n"
            "      <dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>\n"
            f"      <dc:creator>{escape(item.creator)}</dc:creator>\n"
            "    </item>\n"
        )
    parts.append("  </channel>\n</rss>\n")
    return "".join(parts).encode()


def hf_items(name: str = "hf_daily_papers_2025-09-30_indent2_50items.json") -> list[dict]:
    """A real Daily Papers capture's items, to edit."""
    return json.loads((REAL / name).read_text(encoding="utf-8"))


def hf_body(items: list[dict]) -> bytes:
    return json.dumps(items, indent=2).encode()


@dataclass
class PreprintItem:
    """One bioRxiv/medRxiv item (their RSS 1.0 feeds: `?rss=1` links, DOI in dc:identifier)."""

    number: str  # 743294
    version: int
    title: str
    creator: str
    day: date
    abstract: str = "Background. We measured things."


def biorxiv_rss(items: list[PreprintItem], *, server: str = "biorxiv") -> bytes:
    host = f"{server}.org"
    seq = "".join(
        f'<rdf:li rdf:resource="http://{host}/cgi/content/short/{i.number}v{i.version}?rss=1"/>'
        for i in items
    )
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:admin="http://webns.net/mvcb/"'
        ' xmlns:prism="http://purl.org/rss/1.0/modules/prism/" xmlns:taxo="http://purl.org/rss/1.0/modules/taxonomy/"'
        ' xmlns="http://purl.org/rss/1.0/">\n'
        f' <channel rdf:about="http://{host}">\n'
        f"  <title>{server} Channel: Bioinformatics</title>\n"
        f"  <link>http://{host}</link>\n"
        f"  <description>{server} Bioinformatics</description>\n"
        f"  <items><rdf:Seq>{seq}</rdf:Seq></items>\n"
        " </channel>\n"
    ]
    for i in items:
        link = f"http://{host}/cgi/content/short/{i.number}v{i.version}?rss=1"
        parts.append(
            f' <item rdf:about="{link}">\n'
            f"  <title><![CDATA[{i.title}]]></title>\n"
            f"  <link>{link}</link>\n"
            f"  <description><![CDATA[{i.abstract}]]></description>\n"
            f"  <dc:creator><![CDATA[ {i.creator} ]]></dc:creator>\n"
            f"  <dc:date>{i.day.isoformat()}</dc:date>\n"
            f"  <dc:identifier>doi:10.1101/{i.number}</dc:identifier>\n"
            f"  <dc:title><![CDATA[{i.title}]]></dc:title>\n"
            "  <dc:publisher>Cold Spring Harbor Laboratory</dc:publisher>\n"
            f"  <prism:publicationDate>{i.day.isoformat()}</prism:publicationDate>\n"
            "  <prism:section></prism:section>\n"
            " </item>\n"
        )
    parts.append("</rdf:RDF>\n")
    return "".join(parts).encode()
