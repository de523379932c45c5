"""Search by meaning, "more like this" and recommendations (issue 11).

One narrow interface: `MeaningService` (embed what the store holds; nearest papers to a text,
a paper, or a reader's bookmarks), built by `build_service` from the settings and a store.
The model (bot.meaning.model), the vector index (bot.meaning.index) and the fusion with word
search (bot.meaning.fuse) are its parts.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from bot.config import Settings
from bot.meaning.model import load_embedder
from bot.meaning.service import MeaningService, MeaningSource, MeaningUnavailable, Recommendation, Related

__all__ = ["MeaningService", "MeaningSource", "MeaningUnavailable", "Recommendation", "Related",
           "build_service"]


def build_service(settings: Settings, source: MeaningSource) -> MeaningService:
    """The service for these settings; `start()` it before use."""
    cfg = settings.meaning
    cache = cfg.resolved_cache_dir(Path(settings.database.path))
    if not cfg.enabled:
        return MeaningService(source, None, None)
    loader = partial(load_embedder, cfg.model_dir, cache, max_tokens=cfg.max_tokens,
                     batch_size=cfg.batch_size, threads=cfg.threads, allow_fetch=cfg.fetch_model)
    db = Path(settings.database.path)
    # The index is derived from this database's vectors: it lives beside it, one per database.
    index_dir = None if str(db) == ":memory:" else db.with_name(db.name + ".vectors")
    return MeaningService(source, loader, index_dir)
