"""parse_arxiv_id: one identity for a paper, whatever string a source uses for it."""

from __future__ import annotations

import pytest

from bot.sources import parse_arxiv_id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://arxiv.org/abs/2405.12345v2", ("2405.12345", 2)),
        ("http://arxiv.org/abs/2201.13452v1", ("2201.13452", 1)),
        ("https://arxiv.org/abs/2605.08098", ("2605.08098", None)),
        ("oai:arXiv.org:nlin/0408039v2", ("nlin/0408039", 2)),
        ("oai:arXiv.org:2605.08098v1", ("2605.08098", 1)),
        ("arXiv:1706.03762", ("1706.03762", None)),
        ("arxiv:1706.03762v7", ("1706.03762", 7)),
        ("1706.03762", ("1706.03762", None)),
        ("0704.0001", ("0704.0001", None)),
        ("math.GT/0309136", ("math/0309136", None)),
        ("arXiv:math.GT/0309136v1", ("math/0309136", 1)),
        ("http://arxiv.org/abs/cond-mat/0011267v1", ("cond-mat/0011267", 1)),
        ("https://arxiv.org/pdf/nucl-ex/0408020v1", ("nucl-ex/0408020", 1)),
        ("https://arxiv.org/pdf/2405.12345v3.pdf", ("2405.12345", 3)),
        ("https://arxiv.org/pdf/2405.12345", ("2405.12345", None)),
        ("http://export.arxiv.org/abs/2605.08104v2", ("2605.08104", 2)),
        ("https://www.arxiv.org/abs/2605.08104/", ("2605.08104", None)),
        ("arxiv.org/abs/2605.08104", ("2605.08104", None)),
        ("https://arxiv.org/html/2605.08104v1", ("2605.08104", 1)),
        ("https://doi.org/10.48550/arXiv.2011.02565", ("2011.02565", None)),
        ("10.48550/arXiv.2011.02565", ("2011.02565", None)),
        ("  https://arxiv.org/abs/2405.12345v2\n", ("2405.12345", 2)),
    ],
)
def test_arxiv_ids_are_recognised(text: str, expected: tuple[str, int | None]) -> None:
    assert parse_arxiv_id(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "rss:0123456789abcdef",
        "https://example.com/abs/2405.12345",
        "https://arxiv.org/list/cs.LG/new",
        "https://arxiv.org/abs/",
        "see arXiv:1706.03762 for details",
        "1234.5678",  # month 34 does not exist
        "2405.123",
        "2405.123456",
        "https://doi.org/10.1016/j.elspec.2014.01.005",
        "tag:journal.example.org,2026:5678",
        "http://[broken-url/abs/2405.12345",
        "ftp://arxiv.org/abs/2405.12345",
        "2405.12345v0",
    ],
)
def test_non_arxiv_strings_give_none(text: str) -> None:
    assert parse_arxiv_id(text) is None
