"""The embedding model: the ONNX export computes what BERT computes, and int8 keeps the meaning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.meaning.bert import BertConfig, BertEncoder, read_safetensors
from bot.meaning.model import (
    Embedder,
    ModelUnavailable,
    installed_package_dir,
    locate_model,
    paper_text,
    prepare_model,
    token_batches,
)


def _reference_embed(texts: list[str]) -> np.ndarray:
    """all-MiniLM-L6-v2 in plain numpy float32 (bot.meaning.bert), as sentence-transformers computes it."""
    from tokenizers import Tokenizer

    folder = installed_package_dir()
    assert folder is not None
    encoder = BertEncoder(read_safetensors(folder / "model.safetensors"),
                          BertConfig.from_json(folder / "config.json"))
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()
    out = []
    for text in texts:
        ids = np.array([tok.encode(text).ids], dtype=np.int64)
        out.append(encoder.encode(ids, np.ones_like(ids))[0])
    return np.vstack(out)


def test_reference_encoder_reproduces_the_published_similarity() -> None:
    # sentence-transformers' own example for this model: these two score 0.7553.
    vecs = _reference_embed(["A man is eating food.", "A man is eating a piece of bread."])
    assert float(vecs[0] @ vecs[1]) == pytest.approx(0.7553, abs=0.002)
    assert np.linalg.norm(vecs, axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)


def test_int8_model_agrees_with_the_float_reference(embedder: Embedder) -> None:
    texts = [
        "A man is eating food.",
        "Diffusion models generate images by iteratively denoising Gaussian noise.",
        paper_text("Attention Is All You Need", "We propose a new simple network architecture, the "
                   "Transformer, based solely on attention mechanisms, dispensing with recurrence."),
    ]
    ours = embedder.embed(texts)
    ref = _reference_embed(texts)
    assert ours.shape == (3, 384) and ours.dtype == np.float32
    agreement = np.sum(ours * ref, axis=1)
    assert agreement.min() > 0.97, agreement


def test_batched_and_padded_texts_embed_as_when_alone(embedder: Embedder) -> None:
    # Padding is masked out; int8's dynamic scale is per batch, so a batch moves a vector slightly.
    texts = ["short", "a much longer sentence about protein structure prediction with transformers " * 3,
             "graph neural networks for molecules"]
    together = embedder.embed(texts)
    alone = np.vstack([embedder.embed_one(t) for t in texts])
    assert np.sum(together * alone, axis=1).min() > 0.97
    assert np.argmax(together @ alone.T, axis=1).tolist() == [0, 1, 2]


def test_paraphrases_are_nearer_than_other_topics(embedder: Embedder) -> None:
    query = embedder.embed_one("making language models forget private data")
    papers = embedder.embed([
        paper_text("Machine Unlearning for Large Language Models",
                   "We study how to remove the influence of specific training examples, such as personal "
                   "information, from a trained LLM without retraining from scratch."),
        paper_text("Learning Robot Manipulation from Human Videos",
                   "Robots acquire grasping skills by watching videos of people performing tasks."),
        paper_text("Faster Matrix Multiplication on GPUs",
                   "A tiling scheme that improves the throughput of dense matrix products."),
    ])
    sims = papers @ query
    assert int(np.argmax(sims)) == 0 and sims[0] > sims[1] + 0.15


def test_a_missing_model_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="does not hold"):
        locate_model(tmp_path, tmp_path / "cache", allow_fetch=False)


def test_prepared_model_is_reused_and_its_id_names_the_token_limit(model_cache: Path) -> None:
    folder = installed_package_dir()
    assert folder is not None
    first = prepare_model(folder, model_cache, max_tokens=128)
    stamp = first.onnx_path.stat().st_mtime_ns
    again = prepare_model(folder, model_cache, max_tokens=64)
    assert again.onnx_path == first.onnx_path and again.onnx_path.stat().st_mtime_ns == stamp
    assert first.model_id.startswith("all-MiniLM-L6-v2:") and first.model_id != again.model_id


def test_runs_are_capped_by_padded_tokens_so_long_abstracts_go_few_at_a_time() -> None:
    lengths = [5] * 40 + [128] * 10
    runs = token_batches(list(range(50)), lengths, 32, 512)
    assert sorted(i for run in runs for i in run) == list(range(50))  # every text, once
    assert all(len(run) * max(lengths[i] for i in run) <= 512 for run in runs)
    assert all(len(run) <= 32 for run in runs)
    assert [len(r) for r in runs] == [32, 8, 4, 4, 2]  # short queries many to a run, abstracts 4
    assert token_batches([0], [600], 32, 512) == [[0]]  # one text longer than the budget still runs


def test_many_long_texts_embed_as_when_alone(embedder: Embedder) -> None:
    texts = [f"paper {i} about protein folding with graph networks and diffusion " * 12 for i in range(9)]
    together = embedder.embed(texts)
    alone = np.vstack([embedder.embed_one(t) for t in texts])
    assert np.sum(together * alone, axis=1).min() > 0.97
