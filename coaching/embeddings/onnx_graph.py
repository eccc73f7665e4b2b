"""all-MiniLM-L6-v2 as an ONNX graph, built with the `onnx` library from the verified safetensors weights.

No registry wheel ships an exported float32 ONNX graph of this model whose hashes can be checked against
the upstream files, so the graph is built here: the sentence-transformers pipeline (BERT, mean pooling
over the attention mask, L2 normalisation) in standard opset-17 operators. Its initializers point into
`model.safetensors` by offset (ONNX external data), so the 90 MB of weights are stored once and are
exactly the verified bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from coaching.embeddings.interface import EmbeddingsUnavailable
from coaching.embeddings.minilm import (
    DIMENSION,
    HEAD_SIZE,
    HEADS,
    LAYER_NORM_EPS,
    LAYERS,
    MASKED_SCORE,
    layer,
)
from coaching.embeddings.weights import read_safetensors_index

# provisioning.ONNX_GRAPH_VERSION must be bumped when this graph changes, so cached .onnx files are rebuilt.
_IR_VERSION = 8  # what every onnxruntime since 1.10 reads
_OPSET = 17  # LayerNormalization is a standard op from 17 on

Attribute = int | float | Sequence[int]


class _GraphBuilder:
    """Collects nodes and initializers; each `op` returns the name of its (first) output."""

    def __init__(self, safetensors: Path) -> None:
        self.index = read_safetensors_index(safetensors)
        self.location = safetensors.name
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._constants: dict[tuple[str, bytes], str] = {}
        self._weights: set[str] = set()

    def op(self, op_type: str, *inputs: str, output_name: str = "", **attributes: Attribute) -> str:
        number = len(self.nodes) + 1
        output = output_name or f"{op_type.lower()}_{number}"
        node = helper.make_node(op_type, list(inputs), [output], name=f"{op_type}_{number}")
        node.attribute.extend(helper.make_attribute(key, value) for key, value in attributes.items())
        self.nodes.append(node)
        return output

    def weight(self, name: str) -> str:
        """A float32 tensor of the safetensors file, referenced in place (ONNX external data)."""
        if name in self._weights:
            return name
        entry = self.index[name]
        if entry.dtype != "F32":
            raise EmbeddingsUnavailable(f"model.safetensors: {name} is {entry.dtype}, expected F32")
        tensor = TensorProto(
            name=name, data_type=TensorProto.FLOAT, dims=entry.shape, data_location=TensorProto.EXTERNAL
        )
        for key, value in (("location", self.location), ("offset", entry.offset), ("length", entry.length)):
            tensor.external_data.add(key=key, value=str(value))
        self.initializers.append(tensor)
        self._weights.add(name)
        return name

    def constant(self, values: Sequence[float] | Sequence[int] | float | int, *, scalar: bool = False) -> str:
        """A small constant tensor stored in the graph (float32 or int64, from the Python type)."""
        items = [values] if isinstance(values, int | float) else list(values)
        is_float = any(isinstance(item, float) for item in items)
        array = np.asarray(items, dtype=np.float32 if is_float else np.int64)
        if scalar:
            array = array.reshape(())
        key = ("f" if is_float else "i") + ("s" if scalar else ""), array.tobytes()
        if key not in self._constants:
            name = f"const_{len(self._constants)}"
            self.initializers.append(numpy_helper.from_array(array, name))
            self._constants[key] = name
        return self._constants[key]

    def linear(self, x: str, prefix: str) -> str:
        # PyTorch stores [out, in]; transposing a constant costs nothing at run time, as onnxruntime folds
        # it into the MatMul when the session loads.
        weight_t = self.op("Transpose", self.weight(f"{prefix}.weight"), perm=[1, 0])
        return self.op("Add", self.op("MatMul", x, weight_t), self.weight(f"{prefix}.bias"))

    def layer_norm(self, x: str, prefix: str) -> str:
        return self.op(
            "LayerNormalization",
            x,
            self.weight(f"{prefix}.weight"),
            self.weight(f"{prefix}.bias"),
            axis=-1,
            epsilon=LAYER_NORM_EPS,
        )

    def model(self, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto]) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "all_minilm_l6_v2", inputs, outputs, self.initializers)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", _OPSET)],
            producer_name="coachline",
        )
        model.ir_version = _IR_VERSION
        return model


def build_onnx_model(safetensors: Path) -> onnx.ModelProto:
    """An ONNX model of all-MiniLM-L6-v2 whose weights stay in `safetensors` (same directory).

    Inputs `input_ids` and `attention_mask` (int64, [batch, sequence]); output `sentence_embedding`
    (float32, [batch, 384], unit length). `write_onnx_model` saves and checks it.
    """
    g = _GraphBuilder(safetensors)
    words = g.op("Gather", g.weight("embeddings.word_embeddings.weight"), "input_ids", axis=0)
    length = g.op("Shape", "input_ids", start=1, end=2)
    positions = g.op(
        "Slice", g.weight("embeddings.position_embeddings.weight"), g.constant([0]), length, g.constant([0])
    )
    token_type = g.op(
        "Gather", g.weight("embeddings.token_type_embeddings.weight"), g.constant(0, scalar=True), axis=0
    )
    hidden = g.layer_norm(g.op("Add", g.op("Add", words, positions), token_type), "embeddings.LayerNorm")

    mask = g.op("Cast", "attention_mask", to=TensorProto.FLOAT)
    bias = g.op("Mul", g.op("Sub", g.constant(1.0, scalar=True), mask), g.constant(MASKED_SCORE, scalar=True))
    bias = g.op("Unsqueeze", bias, g.constant([1, 2]))  # [batch, 1, 1, sequence]
    split_heads = g.constant([0, 0, HEADS, HEAD_SIZE])  # 0 keeps that dimension (batch, sequence)
    merge_heads = g.constant([0, 0, DIMENSION])
    for index in range(LAYERS):
        query, key, value = (
            g.op(
                "Transpose",
                g.op("Reshape", g.linear(hidden, layer(index, f"attention.self.{name}")), split_heads),
                perm=perm,
            )
            for name, perm in (("query", [0, 2, 1, 3]), ("key", [0, 2, 3, 1]), ("value", [0, 2, 1, 3]))
        )
        query = g.op("Mul", query, g.constant(1.0 / math.sqrt(HEAD_SIZE), scalar=True))
        scores = g.op("Add", g.op("MatMul", query, key), bias)
        context = g.op("MatMul", g.op("Softmax", scores, axis=-1), value)
        context = g.op("Reshape", g.op("Transpose", context, perm=[0, 2, 1, 3]), merge_heads)
        attended = g.linear(context, layer(index, "attention.output.dense"))
        hidden = g.layer_norm(g.op("Add", attended, hidden), layer(index, "attention.output.LayerNorm"))
        inner = g.linear(hidden, layer(index, "intermediate.dense"))
        # x * 0.5 * (1 + erf(x / sqrt 2)): the shape of PyTorch's export, which onnxruntime fuses into Gelu.
        erf = g.op("Erf", g.op("Div", inner, g.constant(math.sqrt(2.0), scalar=True)))
        inner = g.op(
            "Mul",
            g.op("Mul", inner, g.op("Add", erf, g.constant(1.0, scalar=True))),
            g.constant(0.5, scalar=True),
        )
        output = g.linear(inner, layer(index, "output.dense"))
        hidden = g.layer_norm(g.op("Add", output, hidden), layer(index, "output.LayerNorm"))

    token_mask = g.op("Unsqueeze", mask, g.constant([2]))  # [batch, sequence, 1]
    summed = g.op("ReduceSum", g.op("Mul", hidden, token_mask), g.constant([1]), keepdims=0)
    counts = g.op(
        "Clip", g.op("ReduceSum", token_mask, g.constant([1]), keepdims=0), g.constant(1e-9, scalar=True)
    )
    pooled = g.op("Div", summed, counts)
    norms = g.op("Clip", g.op("ReduceL2", pooled, axes=[1], keepdims=1), g.constant(1e-12, scalar=True))
    g.op("Div", pooled, norms, output_name="sentence_embedding")
    model = g.model(
        inputs=[
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
        ],
        outputs=[
            helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", DIMENSION])
        ],
    )
    return model


def write_onnx_model(safetensors: Path, destination: Path) -> None:
    """Build the graph over `safetensors` and save it as `destination`, in the same directory.

    `onnx.checker` reads the saved file, so it also proves every weight resolves into the safetensors
    file; a graph it refuses raises `EmbeddingsUnavailable`.
    """
    destination.write_bytes(build_onnx_model(safetensors).SerializeToString())
    try:
        onnx.checker.check_model(str(destination))
    except onnx.checker.ValidationError as exc:
        raise EmbeddingsUnavailable(f"the ONNX graph built over {safetensors} is not valid: {exc}") from exc
