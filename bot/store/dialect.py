"""The thin dialect layer: the repository's SQL is written once, SQLite-flavoured, and
translated here for PostgreSQL.

What is translated (and nothing else, so a statement reads the same in both):
- placeholders: `?` and `:name` become `$1..$n` (named ones keep their order of first use);
- `INSERT OR IGNORE INTO ...` becomes `INSERT INTO ... ON CONFLICT DO NOTHING`;
- `IFNULL(` becomes `COALESCE(`; scalar `MAX(a, b)` / `MIN(a, b)` become `GREATEST` / `LEAST`;
- `LIKE` becomes `ILIKE` (SQLite's LIKE ignores ASCII case);
- `BEGIN IMMEDIATE` becomes `BEGIN`.
Everything else (upserts with a conflict target, RETURNING, window functions, CASE) is
common to both engines. Booleans are stored as 0/1 integers on both backends, dates as
ISO text, JSON as text, so the row helpers read both the same way.
"""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _split_code(sql: str) -> list[tuple[bool, str]]:
    """(is_code, text) pieces: string literals and quoted identifiers are left alone."""
    pieces: list[tuple[bool, str]] = []
    i, start, n = 0, 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            if i > start:
                pieces.append((True, sql[start:i]))
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            pieces.append((False, sql[i:j + 1]))
            i = start = j + 1
            continue
        if ch == "-" and sql.startswith("--", i):
            if i > start:
                pieces.append((True, sql[start:i]))
            j = sql.find("\n", i)
            j = n if j < 0 else j
            pieces.append((False, sql[i:j]))
            i = start = j
            continue
        i += 1
    if start < n:
        pieces.append((True, sql[start:]))
    return pieces


def _scalar_minmax(code: str) -> str:
    """MAX(a, b) with two or more arguments is SQLite's scalar max: PostgreSQL's GREATEST."""
    out: list[str] = []
    i = 0
    pattern = re.compile(r"\b(MAX|MIN)\s*\(", re.IGNORECASE)
    while True:
        match = pattern.search(code, i)
        if not match:
            out.append(code[i:])
            return "".join(out)
        depth, j, commas = 0, match.end() - 1, 0
        while j < len(code):
            if code[j] == "(":
                depth += 1
            elif code[j] == ")":
                depth -= 1
                if depth == 0:
                    break
            elif code[j] == "," and depth == 1:
                commas += 1
            j += 1
        out.append(code[i:match.start()])
        if commas:
            out.append("GREATEST(" if match.group(1).upper() == "MAX" else "LEAST(")
        else:
            out.append(code[match.start():match.end()])
        i = match.end()


@lru_cache(maxsize=4096)
def to_postgres(sql: str) -> tuple[str, tuple[str, ...] | None]:
    """The PostgreSQL text of a statement, and the order of its named parameters (or None)."""
    stripped = sql.strip()
    if re.fullmatch(r"BEGIN(\s+(IMMEDIATE|DEFERRED|EXCLUSIVE))?;?", stripped, re.IGNORECASE):
        return "BEGIN", None
    pieces = _split_code(sql)
    number = 0
    names: list[str] = []
    out: list[str] = []
    ignore = False
    for is_code, text in pieces:
        if not is_code:
            out.append(text)
            continue
        if re.search(r"\bINSERT\s+OR\s+IGNORE\s+INTO\b", text, re.IGNORECASE):
            text = re.sub(r"\bINSERT\s+OR\s+IGNORE\s+INTO\b", "INSERT INTO", text, flags=re.IGNORECASE)
            ignore = True
        text = re.sub(r"\bIFNULL\s*\(", "COALESCE(", text, flags=re.IGNORECASE)
        text = re.sub(r"\bNOT\s+LIKE\b", "NOT ILIKE", text, flags=re.IGNORECASE)
        text = re.sub(r"(?<!NOT )\bLIKE\b", "ILIKE", text, flags=re.IGNORECASE)
        text = _scalar_minmax(text)
        buf: list[str] = []
        i = 0
        while i < len(text):
            ch = text[i]
            if ch == "?":
                number += 1
                buf.append(f"${number}")
                i += 1
            elif ch == ":" and i + 1 < len(text) and text[i + 1] == ":":
                buf.append("::")
                i += 2
            elif ch == ":" and (m := _WORD.match(text, i + 1)):
                name = m.group(0)
                if name not in names:
                    names.append(name)
                buf.append(f"${names.index(name) + 1}")
                i = m.end()
            else:
                buf.append(ch)
                i += 1
        out.append("".join(buf))
    result = "".join(out).rstrip().rstrip(";")
    if ignore:
        returning = re.search(r"\bRETURNING\b", result, re.IGNORECASE)
        if returning:
            result = result[:returning.start()] + "ON CONFLICT DO NOTHING " + result[returning.start():]
        else:
            result += " ON CONFLICT DO NOTHING"
    return result, (tuple(names) if names else None)


def mask_url(url: str) -> str:
    """A database URL fit for logs and check-config: the password replaced by ***."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))
