"""The in-process vLLM backend: what can be checked without vllm or a GPU."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from promptopt.errors import MissingExtraError, PromptoptError
from promptopt.llm.backends.vllm_backend import VLLMBackend, _to_response, sampling_kwargs
from promptopt.llm.records import ChatRequest


def test_sampling_kwargs_translates_every_parameter():
    request = ChatRequest.user(
        "hi", temperature=0.7, top_p=0.9, max_tokens=33, stop=("\n", "END"), seed=5
    )
    assert sampling_kwargs(request) == {
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 33,
        "stop": ["\n", "END"],
        "seed": 5,
    }


def test_sampling_kwargs_uses_the_effective_seed():
    assert sampling_kwargs(ChatRequest.user("hi"))["seed"] is None
    assert sampling_kwargs(ChatRequest.user("hi", sample_index=3))["seed"] == 3
    seeded = ChatRequest.user("hi", seed=10, sample_index=2)
    assert sampling_kwargs(seeded)["seed"] == seeded.effective_seed() == 10 + 2 * 1_000_003
    assert sampling_kwargs(ChatRequest.user("hi"))["stop"] == []


@pytest.mark.skipif(
    importlib.util.find_spec("vllm") is not None, reason="vllm is installed here"
)
def test_missing_vllm_is_reported_by_the_constructor():
    with pytest.raises(MissingExtraError) as info:
        VLLMBackend("Qwen/Qwen2.5-0.5B-Instruct")
    error = info.value
    assert isinstance(error, PromptoptError)
    assert error.extra == "vllm" and error.module == "vllm"
    assert "The in-process vLLM backend" in str(error)
    assert "pip install 'promptopt[vllm]'" in str(error)


def test_import_does_not_import_vllm():
    code = (
        "import sys, promptopt.llm.backends.vllm_backend\n"
        "assert 'vllm' not in sys.modules and 'torch' not in sys.modules\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_output_mapping():
    # Shaped like vllm.RequestOutput / CompletionOutput.
    output = SimpleNamespace(
        prompt_token_ids=[1, 2, 3, 4],
        outputs=[SimpleNamespace(text="Paris", token_ids=[7, 8], finish_reason="stop")],
    )
    response = _to_response(output, 0.25)
    assert response.ok
    assert response.text == "Paris"
    assert response.finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (4, 2)
    assert response.usage.estimated is False
    assert response.latency_s == 0.25

    broken = _to_response(SimpleNamespace(prompt_token_ids=[1], outputs=[]), 0.1)
    assert not broken.ok and broken.error_kind == "vllm_error"
