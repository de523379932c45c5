"""Search by meaning over a real SQLite store: embedded once, kept across restarts, kept current."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.config import Settings
from bot.meaning import MeaningService, MeaningUnavailable, build_service
from bot.meaning.index import HNSW_EXPANSION_SEARCH, VectorIndex
from bot.store import Store
from tests.meaning_support import load_feeds

FEEDS = ["arxiv_rss_cs.CL_2024-03-04_91items_early2024format.xml",
         "hf_daily_papers_2025-09-30_indent2_50items.json"]


async def _service(settings: Settings, store: Store) -> MeaningService:
    service = await build_service(settings, store).start()
    assert service.ready, service.problem
    return service


async def test_every_paper_is_embedded_once_and_a_restart_recomputes_nothing(
    make_settings, meaning_on, tmp_path: Path, store_target: str
) -> None:
    """On both backends: vectors are BLOB/BYTEA rows keyed by (model, paper)."""
    settings = make_settings(meaning=meaning_on)
    async with Store(store_target, index_dir=tmp_path / "search") as store:
        count = await load_feeds(store, FEEDS)
        service = await _service(settings, store)
        seen: list[tuple[int, int]] = []
        assert await service.embed_pending(lambda done, total: seen.append((done, total))) == count
        assert seen[-1] == (count, count)
        assert len(service.index) == count and await service.pending() == 0
        assert await service.embed_pending() == 0
        ids = await store.recent_paper_ids(days=1, limit=1000)
        assert ids and len(ids) < count  # the newest day only
    async with Store(store_target, index_dir=tmp_path / "search") as store:  # a restart
        again = await _service(settings, store)
        assert len(again.index) == count  # caught up from the stored vectors
        assert await again.embed_pending() == 0
        async with store.transaction() as db:  # a new abstract: embedded again, under a new row id
            await db.execute("UPDATE papers SET abstract = 'Protein folding with diffusion.',"
                             " last_changed = '2099-01-01T00:00:00+00:00' WHERE id = 1")
        assert await again.embed_pending() == 1
        _, nearest = await again.nearest_to_text("protein folding with diffusion", 1)
        assert nearest[0].paper_id == 1


async def test_changed_text_is_re_embedded_but_other_changes_keep_the_vector(
    make_settings, meaning_on
) -> None:
    settings = make_settings(meaning=meaning_on)
    async with Store(settings.database.path) as store:
        await load_feeds(store, FEEDS)
        service = await _service(settings, store)
        await service.embed_pending()
        before = {pid: service.index.vector(pid).copy() for pid in (1, 2)}
        async with store.transaction() as db:  # a new version with a new abstract; upvotes elsewhere
            await db.execute("UPDATE papers SET abstract = 'Protein folding with diffusion models.',"
                             " last_changed = '2099-01-01T00:00:00+00:00' WHERE id = 1")
            await db.execute("UPDATE papers SET hf_upvotes = 99, last_changed = '2099-01-01T00:00:00+00:00'"
                             " WHERE id = 2")
        assert await service.embed_pending() == 1
        assert float(service.index.vector(1) @ before[1]) < 0.95
        assert np.array_equal(service.index.vector(2), before[2])
        _, nearest = await service.nearest_to_text("protein folding with diffusion models", 1)
        assert nearest[0].paper_id == 1
        assert await service.embed_pending() == 0


async def test_a_model_change_re_embeds_everything_and_drops_the_old_vectors(
    make_settings, meaning_on
) -> None:
    old = make_settings(meaning=meaning_on)
    new = make_settings(meaning={**meaning_on, "max_tokens": 64})  # another model id
    async with Store(old.database.path) as store:
        count = await load_feeds(store, FEEDS[:1])
        first = await _service(old, store)
        await first.embed_pending()
        second = await _service(new, store)
        assert second.model_id != first.model_id
        assert await second.pending() == count
        assert await second.embed_pending() == count
        assert await store.vector_models() == {second.model_id: count}


async def test_the_index_survives_compaction_and_reopening(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    vecs = rng.normal(size=(300, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    index = VectorIndex(tmp_path, "m", 384, compact_at=100)
    index.add([(i + 1, i + 1, vecs[i].tobytes()) for i in range(200)])
    index.compact()
    assert index.tail_size == 0 and len(index) == 200
    index.add([(201, 5, vecs[250].tobytes())])  # paper 5 re-embedded after the base was written
    index.add([(i + 2, i + 1, vecs[i].tobytes()) for i in range(200, 240)])
    hits = index.search(vecs[250], 3)
    assert [h.paper_id for h in hits][:1] in ([5], [251])
    assert all(h.paper_id != 5 or h.similarity > 0.99 for h in hits)
    reopened = VectorIndex(tmp_path, "m", 384).open()
    assert len(reopened) == 200 and reopened.watermark == 200
    assert reopened.search(vecs[10], 1)[0].paper_id == 11
    assert reopened._base.expansion_search == index._base.expansion_search == HNSW_EXPANSION_SEARCH
    assert VectorIndex(tmp_path, "another model", 384).open().watermark == 0


def test_opening_the_on_disk_index_before_the_model_loads_does_not_crash(
        tmp_path: Path, model_cache: Path) -> None:
    """/similar can map the saved index before anything is embedded; with usearch loaded first,
    onnxruntime's import used to kill the process (SIGSEGV)."""
    vecs = np.eye(384, dtype=np.float32)[:50]
    index = VectorIndex(tmp_path, "m", 384, compact_at=10)
    index.add([(i + 1, i + 1, vecs[i].tobytes()) for i in range(50)])
    index.compact()
    script = (
        "import sys; from pathlib import Path\n"
        "from bot.meaning.index import HNSW_EXPANSION_SEARCH, VectorIndex\n"
        "from bot.meaning.model import load_embedder\n"
        f"index = VectorIndex(Path({str(tmp_path)!r}), 'm', 384).open()\n"
        "assert len(index) == 50, len(index)\n"
        f"embedder = load_embedder(None, Path({str(model_cache)!r}), max_tokens=32, allow_fetch=False)\n"
        "print(len(embedder.embed(['a test sentence'])[0]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.strip() == "384"


async def test_similar_papers_share_the_subject_and_say_why(make_settings, meaning_on) -> None:
    settings = make_settings(meaning=meaning_on)
    async with Store(settings.database.path) as store:
        await load_feeds(store, FEEDS)
        service = await _service(settings, store)
        await service.embed_pending()
        ids = await store.recent_paper_ids(days=3650, limit=1000)
        base = (await store.papers_by_ids(ids[:1]))[0]
        related = await service.similar(base, 5)
        assert len(related) == 5
        assert all(r.paper.id != base.id for r in related)
        assert [r.similarity for r in related] == sorted((r.similarity for r in related), reverse=True)
        assert all(r.why for r in related)
        assert any(r.why.startswith("shares ") for r in related)


async def test_turned_off_it_says_so() -> None:
    settings = Settings.model_validate({"meaning": {"enabled": False}})
    service = await build_service(settings, None).start()  # type: ignore[arg-type]
    assert not service.ready
    with pytest.raises(MeaningUnavailable, match="turned off"):
        await service.query_vector("anything")


async def test_a_large_catch_up_is_compacted_into_the_on_disk_index_as_it_goes(
    make_settings, meaning_on, tmp_path: Path
) -> None:
    settings = make_settings(meaning=meaning_on)
    async with Store(settings.database.path) as store:
        count = await load_feeds(store, FEEDS)
        plain = await _service(settings, store)
        await plain.embed_pending()
        built = build_service(settings, store)
        small = MeaningService(store, built._loader, tmp_path / "vectors", compact_at=40)
        await small.start()
        assert small.index.tail_size < 40  # written to the HNSW file in steps, not held in memory
        assert len(small.index) == count
        assert (tmp_path / "vectors").is_dir() and any((tmp_path / "vectors").glob("*.usearch"))
        query = await small.query_vector("protein structure")
        exact = await plain.nearest_to_text("protein structure", 5)
        approx = await asyncio.to_thread(small.index.search, query, 5)
        assert len({n.paper_id for n in approx} & {n.paper_id for n in exact[1]}) >= 4


def test_recommendations_rank_the_readers_topic_first_and_name_the_nearest_bookmark() -> None:
    from bot.meaning.service import rank_for_reader

    rng = np.random.default_rng(0)
    topics = rng.normal(size=(2, 16))

    def near(topic: int) -> np.ndarray:
        v = topics[topic] + rng.normal(scale=0.6, size=16)
        return (v / np.linalg.norm(v)).astype(np.float32)

    index = VectorIndex(None, "test", 16)
    vectors = {pid: near(0) for pid in range(1, 6)}  # the reader's bookmarks: topic 0
    vectors |= {pid: near(0) for pid in range(10, 15)}  # the day: five on topic 0 ...
    vectors |= {pid: near(1) for pid in range(20, 60)}  # ... among forty on another topic
    index.add([(pid, pid, v.tobytes()) for pid, v in vectors.items()])
    ranked = rank_for_reader(index, list(range(1, 6)), [*range(20, 60), *range(10, 15)])
    assert {pid for pid, _, _ in ranked[:5]} == set(range(10, 15))
    for pid, _, because in ranked[:5]:
        sims = {b: float(vectors[b] @ vectors[pid]) for b in range(1, 6)}
        assert because == max(sims, key=sims.get)
    assert [s for _, s, _ in ranked] == sorted((s for _, s, _ in ranked), reverse=True)
