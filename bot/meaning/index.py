"""Nearest papers by vector: an approximate index on disk plus an exact in-memory tail.

The vectors themselves live in the store (one BLOB per paper and model). This index is derived
from them and knows how far it has caught up (the highest `paper_vectors.id` it holds, its
watermark), like the search index, so any process can rebuild or catch up its own copy.

- The *base* is a usearch HNSW graph with int8-quantised vectors, saved in a file beside the
  database and memory-mapped read-only (``Index.restore(view=True)``): the operating system
  pages it in and shares it between processes; a million 384-d papers take ~0.55 GB of file.
- The *tail* holds vectors added since the base was written, as a float32 matrix searched
  exactly with one matrix product. When the tail grows past `compact_at` rows the base is
  rewritten with it (in a worker thread; searches go on with the old base meanwhile).

A paper re-embedded after the base was written is in the tail too; its base entry is then
ignored. Everything here is blocking: callers run it in worker threads.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

COMPACT_AT = 20_000
HNSW_CONNECTIVITY = 16
HNSW_EXPANSION_ADD = 128
HNSW_EXPANSION_SEARCH = 96


@dataclass(frozen=True, slots=True)
class Neighbour:
    paper_id: int
    similarity: float  # cosine, -1..1


def _slug(model_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", model_id)


def _usearch_index_class() -> type:
    """usearch's Index, loaded after onnxruntime.

    Loading onnxruntime's native module after usearch's (its SIMD kernels, numkong) crashes the
    process with a segmentation fault (usearch 2.26, onnxruntime 1.32); the other order is safe.
    The vector index can open before the model loads (/similar, `paperbot similar`), so the
    order is fixed here."""
    import onnxruntime  # noqa: F401
    from usearch.index import Index

    return Index


class VectorIndex:
    """Nearest neighbours of unit vectors, by cosine similarity."""

    def __init__(self, folder: Path | None, model_id: str, dim: int, *, compact_at: int = COMPACT_AT):
        self.model_id = model_id
        self.dim = dim
        self.compact_at = compact_at
        self._path = folder / f"{_slug(model_id)}.usearch" if folder else None
        self._meta = folder / f"{_slug(model_id)}.json" if folder else None
        self._lock = threading.RLock()
        self._base = None  # usearch Index (a read-only view) or None
        self._base_watermark = 0
        self._base_count = 0
        self._tail_ids: list[int] = []
        self._tail_rows: list[np.ndarray] = []
        self._tail_matrix = np.zeros((0, dim), dtype=np.float32)
        self._tail_pos: dict[int, int] = {}
        self.watermark = 0

    # ------------------------------------------------------------------ state

    def open(self) -> VectorIndex:
        """Map the saved base, if any was written for this model."""
        if self._path is None or self._meta is None or not self._path.exists() or not self._meta.exists():
            return self
        try:
            meta = json.loads(self._meta.read_text())
            if meta.get("model") != self.model_id or meta.get("dim") != self.dim:
                return self
            base = _usearch_index_class().restore(str(self._path), view=True)
            base.expansion_search = HNSW_EXPANSION_SEARCH  # not kept in the file: restored as 64
        except Exception:  # a torn or foreign file: rebuilt from the store
            log.warning("vector index %s unreadable; it will be rebuilt from the store", self._path,
                        exc_info=True)
            return self
        with self._lock:
            self._base = base
            self._base_watermark = self.watermark = int(meta["watermark"])
            self._base_count = int(meta["count"])
        return self

    def __len__(self) -> int:
        with self._lock:
            superseded = sum(1 for pid in self._tail_ids if self._in_base(pid))
            return self._base_count + len(self._tail_ids) - superseded

    def _in_base(self, paper_id: int) -> bool:
        return self._base is not None and paper_id in self._base

    def memory_bytes(self) -> dict[str, int]:
        """Resident tail and mapped base sizes (the base is file-backed, paged in on demand)."""
        with self._lock:
            base = self._path.stat().st_size if self._base is not None and self._path else 0
            return {"tail": int(self._tail_matrix.nbytes), "base_file": base}

    # ------------------------------------------------------------------ writing

    def add(self, rows: list[tuple[int, int, bytes]]) -> None:
        """(row id, paper id, float32 bytes) in row order, as the store returns them."""
        if not rows:
            return
        with self._lock:
            for row_id, paper_id, blob in rows:
                vec = np.frombuffer(blob, dtype=np.float32)
                if vec.shape[0] != self.dim:
                    continue
                if paper_id in self._tail_pos:
                    self._tail_rows[self._tail_pos[paper_id]] = vec
                else:
                    self._tail_pos[paper_id] = len(self._tail_ids)
                    self._tail_ids.append(paper_id)
                    self._tail_rows.append(vec)
                self.watermark = max(self.watermark, row_id)
            self._tail_matrix = np.vstack(self._tail_rows).astype(np.float32, copy=False)

    @property
    def tail_size(self) -> int:
        return len(self._tail_ids)

    def needs_compaction(self) -> bool:
        return self._path is not None and self.tail_size >= self.compact_at

    def compact(self) -> None:
        """Write base + tail as the new base file, then map it. Searches continue meanwhile."""
        if self._path is None or self._meta is None:
            return
        Index = _usearch_index_class()

        with self._lock:
            ids = np.array(self._tail_ids, dtype=np.uint64)
            matrix = self._tail_matrix.copy()
            watermark = self.watermark
            old_path = self._path if self._base is not None else None
        fresh = Index(ndim=self.dim, metric="cos", dtype="i8", connectivity=HNSW_CONNECTIVITY,
                      expansion_add=HNSW_EXPANSION_ADD, expansion_search=HNSW_EXPANSION_SEARCH)
        if old_path is not None:
            fresh.load(str(old_path))  # a writable copy of the base in memory
            stale = [int(i) for i in ids if int(i) in fresh]
            if stale:
                fresh.remove(stale)
        if len(ids):
            fresh.add(ids, matrix, threads=max(1, min(2, os.cpu_count() or 1)))
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_name(self._path.name + f".tmp{os.getpid()}")
        fresh.save(str(tmp))
        count = len(fresh)
        del fresh
        os.replace(tmp, self._path)
        self._meta.write_text(json.dumps({"model": self.model_id, "dim": self.dim, "watermark": watermark,
                                          "count": count}))
        base = Index.restore(str(self._path), view=True)
        base.expansion_search = HNSW_EXPANSION_SEARCH
        with self._lock:
            # Rows added while compacting stay in the tail.
            keep = [(pid, self._tail_rows[pos]) for pid, pos in self._tail_pos.items()
                    if pos >= len(ids)]
            self._base, self._base_watermark, self._base_count = base, watermark, count
            self._tail_ids = [pid for pid, _ in keep]
            self._tail_rows = [vec for _, vec in keep]
            self._tail_pos = {pid: i for i, pid in enumerate(self._tail_ids)}
            self._tail_matrix = (np.vstack(self._tail_rows) if keep
                                 else np.zeros((0, self.dim), dtype=np.float32))
        log.info("vector index written: %d papers up to row %d", count, watermark)

    def clear(self) -> None:
        with self._lock:
            self._base = None
            self._base_watermark = self._base_count = self.watermark = 0
            self._tail_ids, self._tail_rows, self._tail_pos = [], [], {}
            self._tail_matrix = np.zeros((0, self.dim), dtype=np.float32)
        for path in (self._path, self._meta):
            if path is not None and path.exists():
                path.unlink()

    # ------------------------------------------------------------------ reading

    def vector(self, paper_id: int) -> np.ndarray | None:
        with self._lock:
            if paper_id in self._tail_pos:
                return self._tail_rows[self._tail_pos[paper_id]]
            if self._in_base(paper_id):
                got = self._base.get(paper_id, dtype=np.float32)
                if got is not None:
                    vec = np.asarray(got, dtype=np.float32).reshape(-1)
                    return vec / max(float(np.linalg.norm(vec)), 1e-12)
        return None

    def search(self, query: np.ndarray, k: int, *, exclude: frozenset[int] = frozenset()) -> list[Neighbour]:
        """The k nearest papers to a unit vector, most similar first."""
        if k <= 0:
            return []
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        with self._lock:
            base, tail_ids, tail = self._base, self._tail_ids, self._tail_matrix
            tail_set = self._tail_pos
        best: dict[int, float] = {}
        if len(tail_ids):
            sims = tail @ query
            take = min(len(sims), k + len(exclude))
            top = np.argpartition(-sims, take - 1)[:take] if take < len(sims) else np.arange(len(sims))
            for i in top:
                best[tail_ids[int(i)]] = float(sims[int(i)])
        if base is not None:
            want = k + len(exclude) + min(len(tail_set), 4 * k)
            found = base.search(query, want)
            for key, dist in zip(found.keys.tolist(), found.distances.tolist(), strict=True):
                pid = int(key)
                if pid in tail_set:
                    continue  # re-embedded since the base was written: the tail's vector counts
                best[pid] = 1.0 - float(dist)
        ranked = sorted(((pid, s) for pid, s in best.items() if pid not in exclude), key=lambda x: -x[1])
        return [Neighbour(pid, s) for pid, s in ranked[:k]]

    def similarities(self, query: np.ndarray, paper_ids: list[int]) -> dict[int, float]:
        """Exact cosine similarity to the given papers (those the index holds)."""
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        out: dict[int, float] = {}
        for pid in paper_ids:
            vec = self.vector(pid)
            if vec is not None:
                out[pid] = float(vec @ query)
        return out
