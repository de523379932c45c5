"""Write a BERT sentence encoder as an ONNX graph from its safetensors weights, without PyTorch.

The graph is built node by node with the ``onnx`` package (standard opset-17 operators), then
quantised to int8 by onnxruntime's dynamic quantiser: on a CPU with VNNI that makes the encoder
several times faster than float32 for a loss in ranking quality too small to measure here (see
docs/benchmarks.md). Done once per model; the result is cached beside the model.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from bot.meaning.bert import BertConfig, read_safetensors


def build_onnx(model_dir: Path, out: Path) -> None:
    """model_dir: a sentence-transformers BERT folder. Writes a float32 graph to ``out``.

    Inputs ``input_ids`` and ``attention_mask`` (int64, batch x length); output
    ``embedding`` (float32, batch x hidden), mean-pooled and L2-normalised.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    cfg = BertConfig.from_json(model_dir / "config.json")
    t = read_safetensors(model_dir / "model.safetensors")
    h, nh = cfg.hidden, cfg.heads
    hd = h // nh
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    counter = iter(range(1_000_000))

    def node(op: str, inputs: list[str], weights: bool = False, **attrs) -> str:
        # Products with a weight matrix are named "dense_*": only those are quantised (see quantize).
        name = f"{'dense' if weights else op.lower()}_{next(counter)}"
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def linear(x: str, prefix: str) -> str:
        w = const(prefix + ".w", t[prefix + ".weight"].T.copy())
        b = const(prefix + ".b", t[prefix + ".bias"])
        return node("Add", [node("MatMul", [x, w], weights=True), b])

    def layer_norm(x: str, prefix: str) -> str:
        return node("LayerNormalization", [x, const(prefix + ".g", t[prefix + ".weight"]),
                                           const(prefix + ".beta", t[prefix + ".bias"])],
                    axis=-1, epsilon=cfg.eps)

    ids, mask = "input_ids", "attention_mask"
    shape_ids = node("Shape", [ids])
    seq_len = node("Gather", [shape_ids, const("one_idx", np.array(1, dtype=np.int64))], axis=0)
    positions = node("Range", [const("zero_i64", np.array(0, dtype=np.int64)), seq_len,
                               const("one_i64", np.array(1, dtype=np.int64))])
    word = node("Gather", [const("word_emb", t["embeddings.word_embeddings.weight"]), ids], axis=0)
    pos = node("Gather", [const("pos_emb", t["embeddings.position_embeddings.weight"]), positions], axis=0)
    x = node("Add", [node("Add", [word, pos]),
                     const("type0", t["embeddings.token_type_embeddings.weight"][0])])
    x = layer_norm(x, "embeddings.LayerNorm")

    maskf = node("Cast", [mask], to=TensorProto.FLOAT)
    # (1 - mask) * -1e4, shaped (batch, 1, 1, length) to add to every head's scores
    bias = node("Mul", [node("Sub", [const("one_f", np.array(1.0, np.float32)), maskf]),
                        const("neg_big", np.array(-10000.0, np.float32))])
    bias = node("Unsqueeze", [bias, const("axes12", np.array([1, 2], dtype=np.int64))])
    heads_shape = const("heads_shape", np.array([0, 0, nh, hd], dtype=np.int64))
    merge_shape = const("merge_shape", np.array([0, 0, h], dtype=np.int64))
    scale = const("scale", np.array(1 / math.sqrt(hd), np.float32))
    for i in range(cfg.layers):
        p = f"encoder.layer.{i}."

        def heads(y: str) -> str:
            return node("Transpose", [node("Reshape", [y, heads_shape])], perm=[0, 2, 1, 3])

        q = heads(node("Mul", [linear(x, p + "attention.self.query"), scale]))
        k = node("Transpose", [node("Reshape", [linear(x, p + "attention.self.key"), heads_shape])],
                 perm=[0, 2, 3, 1])
        v = heads(linear(x, p + "attention.self.value"))
        probs = node("Softmax", [node("Add", [node("MatMul", [q, k]), bias])], axis=-1)
        ctx = node("Reshape", [node("Transpose", [node("MatMul", [probs, v])], perm=[0, 2, 1, 3]),
                               merge_shape])
        x = layer_norm(node("Add", [linear(ctx, p + "attention.output.dense"), x]),
                       p + "attention.output.LayerNorm")
        inter = linear(x, p + "intermediate.dense")
        gelu = node("Mul", [node("Mul", [inter, const(f"half{i}", np.array(0.5, np.float32))]),
                            node("Add", [const(f"onef{i}", np.array(1.0, np.float32)),
                                         node("Erf", [node("Div", [inter, const(
                                             f"sqrt2_{i}", np.array(math.sqrt(2), np.float32))])])])])
        x = layer_norm(node("Add", [linear(gelu, p + "output.dense"), x]), p + "output.LayerNorm")

    m3 = node("Unsqueeze", [maskf, const("axis2", np.array([2], dtype=np.int64))])
    summed = node("ReduceSum", [node("Mul", [x, m3]), const("axis1", np.array([1], dtype=np.int64))],
                  keepdims=0)
    count = node("Max", [node("ReduceSum", [m3, const("axis1b", np.array([1], dtype=np.int64))], keepdims=0),
                         const("tiny", np.array(1e-9, np.float32))])
    mean = node("Div", [summed, count])
    norm = node("Max", [node("ReduceL2", [mean], axes=[-1], keepdims=1),
                        const("tiny2", np.array(1e-12, np.float32))])
    nodes.append(helper.make_node("Div", [mean, norm], ["embedding"], name="normalise"))

    graph = helper.make_graph(
        nodes, "sentence_encoder",
        [helper.make_tensor_value_info(ids, TensorProto.INT64, ["batch", "length"]),
         helper.make_tensor_value_info(mask, TensorProto.INT64, ["batch", "length"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", h])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))


PER_CHANNEL = True


def quantize(src: Path, dst: Path) -> None:
    """int8 weights for every MatMul (dynamic activation quantisation), as onnxruntime does it."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dense = [n.name for n in onnx.load(str(src)).graph.node if n.name.startswith("dense_")]
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                     nodes_to_quantize=dense, per_channel=PER_CHANNEL,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
