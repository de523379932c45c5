"""A BERT sentence encoder in numpy: the weights of a sentence-transformers model, no PyTorch.

Small BERT encoders (MiniLM, BGE-small) spend their time in matrix products, which numpy hands
to its BLAS; so a plain forward pass runs near the speed of a dedicated runtime on a CPU, and
the install stays free of PyTorch. The weights are read from a ``model.safetensors`` file with
numpy alone (the format is a JSON header followed by raw little-endian arrays).
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "I64": np.int64}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file as a numpy array (memory-mapped, then copied as float32)."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    (header_len,) = struct.unpack("<Q", raw[:8].tobytes())
    header = json.loads(raw[8 : 8 + header_len].tobytes())
    base = 8 + header_len
    tensors: dict[str, np.ndarray] = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(meta["dtype"])
        if dtype is None:
            raise ValueError(f"{path.name}: tensor {name} has unsupported dtype {meta['dtype']}")
        start, end = meta["data_offsets"]
        arr = np.frombuffer(raw[base + start : base + end], dtype=dtype).reshape(meta["shape"])
        tensors[name] = np.ascontiguousarray(arr, dtype=np.float32 if dtype != np.int64 else np.int64)
    return tensors


@dataclass(frozen=True, slots=True)
class BertConfig:
    hidden: int
    heads: int
    layers: int
    eps: float

    @classmethod
    def from_json(cls, path: Path) -> BertConfig:
        d = json.loads(path.read_text())
        if d.get("model_type") != "bert" or d.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"{path}: not a BERT model with GELU activations")
        return cls(d["hidden_size"], d["num_attention_heads"], d["num_hidden_layers"],
                   float(d.get("layer_norm_eps", 1e-12)))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    x = x - mean
    var = np.mean(x * x, -1, keepdims=True)
    x *= 1.0 / np.sqrt(var + eps)
    x *= w
    x += b
    return x


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, x * Phi(x), with erf from Abramowitz & Stegun 7.1.26 (error < 1.5e-7)."""
    z = np.abs(x) * np.float32(1 / math.sqrt(2))
    t = 1.0 / (1.0 + np.float32(0.3275911) * z)
    poly = t * (np.float32(0.254829592) + t * (np.float32(-0.284496736) + t * (np.float32(1.421413741)
           + t * (np.float32(-1.453152027) + t * np.float32(1.061405429)))))
    erf = 1.0 - poly * np.exp(-z * z)
    erf = np.copysign(erf, x)
    return x * np.float32(0.5) * (1.0 + erf)


class BertEncoder:
    """Token ids -> mean-pooled, L2-normalised sentence vectors."""

    def __init__(self, tensors: dict[str, np.ndarray], config: BertConfig):
        self.config = config
        t = tensors
        self.word = t["embeddings.word_embeddings.weight"]
        self.pos = t["embeddings.position_embeddings.weight"]
        self.type0 = t["embeddings.token_type_embeddings.weight"][0]
        self.emb_ln = (t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(config.layers):
            p = f"encoder.layer.{i}."
            # Q, K and V as one (hidden, 3*hidden) product: one BLAS call instead of three.
            qkv_w = np.concatenate([t[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")]).T
            qkv_b = np.concatenate([t[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
            self.layers.append((
                np.ascontiguousarray(qkv_w), qkv_b,
                np.ascontiguousarray(t[p + "attention.output.dense.weight"].T),
                t[p + "attention.output.dense.bias"],
                t[p + "attention.output.LayerNorm.weight"], t[p + "attention.output.LayerNorm.bias"],
                np.ascontiguousarray(t[p + "intermediate.dense.weight"].T), t[p + "intermediate.dense.bias"],
                np.ascontiguousarray(t[p + "output.dense.weight"].T), t[p + "output.dense.bias"],
                t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"],
            ))

    @property
    def dim(self) -> int:
        return self.config.hidden

    def encode(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """ids, mask: (batch, length) int arrays, padded on the right. Returns (batch, hidden) float32."""
        cfg = self.config
        b, n = ids.shape
        h, nh = cfg.hidden, cfg.heads
        hd = h // nh
        x = self.word[ids] + self.pos[:n] + self.type0
        x = _layer_norm(x.reshape(b * n, h), *self.emb_ln, cfg.eps)
        bias = np.where(mask[:, None, None, :] > 0, np.float32(0), np.float32(-1e9)).astype(np.float32)
        scale = np.float32(1 / math.sqrt(hd))
        for qkv_w, qkv_b, o_w, o_b, ln1_w, ln1_b, i_w, i_b, f_w, f_b, ln2_w, ln2_b in self.layers:
            qkv = x @ qkv_w
            qkv += qkv_b
            qkv = qkv.reshape(b, n, 3, nh, hd).transpose(2, 0, 3, 1, 4)  # 3, b, heads, n, hd
            q, k, v = qkv[0] * scale, qkv[1], qkv[2]
            scores = q @ k.transpose(0, 1, 3, 2)
            scores += bias
            scores -= scores.max(-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(b * n, h)
            a = ctx @ o_w
            a += o_b
            a += x
            x = _layer_norm(a, ln1_w, ln1_b, cfg.eps)
            inter = x @ i_w
            inter += i_b
            f = _gelu(inter) @ f_w
            f += f_b
            f += x
            x = _layer_norm(f, ln2_w, ln2_b, cfg.eps)
        x = x.reshape(b, n, h)
        m = mask.astype(np.float32)[:, :, None]
        pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
