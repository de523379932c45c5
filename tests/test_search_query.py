"""The query parser: any text becomes a query SQLite accepts, with a forgiving syntax on top."""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest

from bot.search import MAX_TERMS, fts_tokens, parse_query

HOSTILE = [
    '"',
    '"unbalanced phrase',
    "((((",
    "a) OR (b",
    "NEAR(",
    "NEAR(a b, 3)",
    "AND",
    "a AND OR NOT b",
    "*",
    "-",
    "- -- ---",
    "title:",
    ":",
    "::::",
    "^start",
    "col:umn:weird",
    "🦜🔥 transformers 🚀",
    "😀",
    "\x00\x01 nul bytes",
    "' OR 1=1; DROP TABLE papers; --",
    "\\ backslash \\",
    "{title author}: x",
    "x" * 10_000,
    "word " * 2_000,
    "تعلم الآلة",
    "机器学习 transformer",
    "-negative only",
    "OR OR OR",
    "a*b*c",
    "\"quoted\"*",
]


def _fts_accepts(expression: str) -> None:
    """Run the expression against a real FTS5 table: it must not be a syntax error."""
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE VIRTUAL TABLE t USING fts5(title, authors, abstract,"
        " tokenize='porter unicode61 remove_diacritics 2')"
    )
    db.execute("INSERT INTO t VALUES ('Self-supervised learning', 'Ada Lovelace', 'We study x')")
    db.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,)).fetchall()


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_never_yields_an_fts_syntax_error(text: str) -> None:
    query = parse_query(text)
    for expression in (query.match_all(), query.match_any()):
        if expression is not None:
            _fts_accepts(expression)


def test_operators_typed_by_a_user_are_plain_words() -> None:
    query = parse_query("NEAR AND NOT")
    assert [t.tokens for t in query.groups[0]] == [("near",), ("and",), ("not",)]


def test_quoted_phrase_stays_a_phrase_and_hyphenated_words_become_one() -> None:
    query = parse_query('"graph neural network" self-supervised')
    assert [t.tokens for t in query.groups[0]] == [("graph", "neural", "network"), ("self", "supervised")]
    assert query.match_all() == '"graph neural network" AND "self supervised"'


def test_fields_exclusions_prefix_and_or() -> None:
    query = parse_query("title:diffusion transform* -survey author:Hinton cat:cs.lg OR gan")
    assert query.filters.author is None  # an author: word is a term in the authors column
    assert query.filters.categories == ("cs.LG",)
    assert [t.display() for t in query.excluded] == ["-survey"]
    expression = query.match_all()
    assert expression is not None
    assert 'title : "diffusion"' in expression
    assert '"transform"*' in expression
    assert 'NOT ("survey")' in expression
    assert 'authors : "hinton"' in expression
    assert " OR " in expression
    _fts_accepts(expression)


def test_arxiv_ids_in_any_spelling_are_lookups() -> None:
    query = parse_query("arXiv:2405.12345v2 https://arxiv.org/abs/nlin/0408039 2310.00001")
    assert query.arxiv_ids == ("2405.12345", "nlin/0408039", "2310.00001")
    assert query.groups == ()


def test_long_queries_are_bounded_and_say_so() -> None:
    query = parse_query(" ".join(f"word{i}" for i in range(100)))
    assert sum(len(g) for g in query.groups) == MAX_TERMS
    assert any("first" in note for note in query.notes)


def test_only_emoji_is_an_empty_query() -> None:
    assert parse_query("🦜🔥").is_empty


def test_unknown_field_prefix_is_plain_text() -> None:
    query = parse_query("foo:bar")
    assert [t.tokens for t in query.groups[0]] == [("foo", "bar")]


def test_since_days_counts_back_from_today() -> None:
    query = parse_query("x", since_days=7, today=date(2026, 5, 12))
    assert query.filters.since == date(2026, 5, 5)


def test_tokenizer_matches_unicode61_on_letters_and_digits() -> None:
    assert fts_tokens("Löwe's GPT-4o, 3D-aware") == ["löwe", "s", "gpt", "4o", "3d", "aware"]


def test_category_lookalike_words_are_noticed_for_a_hint() -> None:
    assert parse_query("cs.CV segmentation").category_like_words == ("cs.CV",)


def test_several_author_words_are_each_their_own_phrase() -> None:
    query = parse_query('author:wang author:"Li Na" -survey')
    expression = query.match_all()
    assert expression == '(authors : "wang" AND authors : "li na") NOT ("survey")'
    _fts_accepts(expression or "")


def test_an_author_option_without_letters_is_ignored_with_a_note() -> None:
    query = parse_query("", author="!!!")
    assert query.filters.author is None
    assert query.is_empty
    assert any("no letters" in note for note in query.notes)


def test_a_lone_combining_mark_separates_like_sqlite() -> None:
    assert fts_tokens("learning \u0301") == ["learning"]
    assert fts_tokens("Lo\u0308we") == ["löwe"]  # decomposed input is composed first
