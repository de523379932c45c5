"""What is wrong with a database, in one line a person can act on.

SQLite reports problems with terse messages ("file is not a database",
"unable to open database file") that do not say which file, nor what to do.
The store and the command line turn them into a `StoreError` that names the
file and the way out, so nobody ever sees a traceback for a broken disk.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# SQLite primary result codes (extended codes keep these in their low byte).
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26

RESTORE_HINT = ("restore a backup: stop paperbot, then `paperbot restore BACKUP` "
                "(README, 'Backup and restore')")


class StoreError(RuntimeError):
    """The database cannot be used; the message names the file and what is wrong."""

    def __init__(self, message: str, *, path: Path | None = None, kind: str = "other"):
        super().__init__(message)
        self.path = path
        self.kind = kind  # missing, folder, unwritable, notadb, corrupt, locked, full, readonly, io, other


async def timed_lock_wait(step: Awaitable[T]) -> T:
    """Await a statement that may wait for the write lock, noting on a failure how long it
    waited: a "locked" message then tells a full wait from SQLite giving up at once."""
    started = time.monotonic()
    try:
        return await step
    except sqlite3.Error as error:
        error.paperbot_waited_s = time.monotonic() - started  # type: ignore[attr-defined]
        raise


def is_busy(error: BaseException) -> bool:
    """SQLite's "database is locked" (SQLITE_BUSY, any extended code)."""
    return isinstance(error, sqlite3.Error) and _code(error) == SQLITE_BUSY


def _locked_message(path: Path, error: sqlite3.Error, busy_timeout_ms: int | None) -> str:
    waited = getattr(error, "paperbot_waited_s", None)
    # SQLite's busy wait sleeps until the timeout: most of it spent means it waited in full.
    if busy_timeout_ms and (waited is None or waited >= 0.9 * busy_timeout_ms / 1000):
        how_long = f" (waited {busy_timeout_ms / 1000:g} s)"
    elif waited is not None:
        # SQLite returns some lock conflicts without waiting at all; say which one.
        name = getattr(error, "sqlite_errorname", None) or "SQLITE_BUSY"
        how_long = f" ({name} after {waited:.1f} s)"
    else:
        how_long = ""
    return f"{path} is locked: another paperbot is writing to it{how_long}; try again when it has finished"


def _code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _kind(error: sqlite3.Error) -> str:
    code = _code(error)
    text = str(error).lower()
    if code == SQLITE_NOTADB or "file is not a database" in text:
        return "notadb"
    if code == SQLITE_CORRUPT or "malformed" in text:
        return "corrupt"
    if code in (SQLITE_BUSY, SQLITE_LOCKED) or "database is locked" in text:
        return "locked"
    if code == SQLITE_FULL or "database or disk is full" in text:
        return "full"
    if code == SQLITE_READONLY or "readonly database" in text:
        return "readonly"
    if code == SQLITE_CANTOPEN or "unable to open database" in text:
        return "cantopen"
    if code == SQLITE_IOERR or "disk i/o error" in text:
        return "io"
    return "other"


def _why_cannot_open(path: Path) -> tuple[str, str]:
    """SQLite only says 'unable to open database file'; the file system says why."""
    if path.is_dir():
        return "folder", f"{path} is a folder, not a database file: set [database] path to a file"
    folder = path.parent
    if not folder.exists():
        return "missing", f"cannot open {path}: the folder {folder} does not exist"
    if not folder.is_dir():
        return "unwritable", f"cannot open {path}: {folder} is a file, not a folder"
    if not path.exists() and not os.access(folder, os.W_OK):
        return "unwritable", f"cannot create {path}: the folder {folder} is not writable"
    if path.exists() and not os.access(path, os.R_OK):
        return "unwritable", f"cannot open {path}: permission denied"
    return "unwritable", (f"cannot open {path}: SQLite could not open it or create its -wal/-shm "
                          f"files next to it (is {folder} writable?)")


def explain(error: BaseException, path: Path | str, *, busy_timeout_ms: int | None = None) -> StoreError:
    """A `StoreError` for an error met while opening or using the database at `path`."""
    if isinstance(error, StoreError):
        return error
    path = Path(path)
    if isinstance(error, OSError) and not isinstance(error, sqlite3.Error):
        reason = error.strerror or str(error)
        where = error.filename or path
        return StoreError(f"cannot use the database {path}: {where}: {reason}", path=path, kind="unwritable")
    assert isinstance(error, sqlite3.Error)
    kind = _kind(error)
    if kind == "notadb":
        message = (f"{path} is not a paperbot database: not an SQLite file, or its header is damaged; "
                   f"{RESTORE_HINT}, or set [database] path to another file")
    elif kind == "corrupt":
        message = f"{path} is damaged (database disk image is malformed); {RESTORE_HINT}"
    elif kind == "locked":
        message = _locked_message(path, error, busy_timeout_ms)
    elif kind == "full":
        message = f"cannot write to {path}: the disk is full (database or disk is full); free some space"
    elif kind == "readonly":
        message = f"cannot write to {path}: the file or its folder is read-only"
    elif kind == "cantopen":
        kind, message = _why_cannot_open(path)
    elif kind == "io":
        message = f"cannot read or write {path}: disk I/O error ({error})"
    else:
        message = f"database {path}: {error}"
    return StoreError(message, path=path, kind=kind)
