"""vLLM in-process: a whole batch of chat requests in one ``LLM.chat`` call (optional extra).

``vllm`` is imported lazily, on the first batch, so importing this module stays cheap and a
missing extra is reported by the constructor (found with ``importlib.util.find_spec``, without
importing vllm).
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from promptopt.errors import MissingExtraError, PromptoptError
from promptopt.llm.records import ChatRequest, ChatResponse, Usage

__all__ = ["VLLMBackend", "sampling_kwargs"]

_ERROR_KIND = "vllm_error"


def _require_vllm() -> None:
    try:
        found = importlib.util.find_spec("vllm") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtraError("vllm", "The in-process vLLM backend", "vllm")


def sampling_kwargs(request: ChatRequest) -> dict[str, Any]:
    """Keyword arguments of ``vllm.SamplingParams`` for one request (pure; no vllm needed)."""
    return {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
        "stop": list(request.stop),
        "seed": request.effective_seed(),
    }


class VLLMBackend:
    """Serves chat batches with a vLLM engine living in this process.

    ``engine_kwargs`` go to ``vllm.LLM`` unchanged (``tensor_parallel_size``,
    ``gpu_memory_utilization``, ``max_model_len``, ...). The engine is created on the first
    batch, on the backend's single worker thread, where every later call into it also runs.
    """

    native_batching = True

    def __init__(self, model: str, **engine_kwargs: Any) -> None:
        _require_vllm()
        if not model:
            raise ValueError("VLLMBackend needs a model name or path")
        self.model = model
        self.engine_kwargs = dict(engine_kwargs)
        self.model_identity = f"vllm:{model}"
        self._llm: Any = None
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="promptopt-vllm")

    def __repr__(self) -> str:
        return f"VLLMBackend({self.model!r})"

    # -- worker-thread side -------------------------------------------------------------------

    def _engine(self) -> Any:
        if self._llm is None:
            if self._closed:
                raise RuntimeError("VLLMBackend is closed")
            try:
                import vllm
            except ImportError as exc:
                raise MissingExtraError("vllm", "The in-process vLLM backend", "vllm") from exc
            try:
                self._llm = vllm.LLM(model=self.model, **self.engine_kwargs)
            except Exception as exc:
                raise PromptoptError(
                    f"vLLM could not load model '{self.model}': {type(exc).__name__}: {exc}"
                ) from exc
        return self._llm

    def _run_batch(self, requests: list[ChatRequest]) -> list[ChatResponse]:
        llm = self._engine()
        from vllm import SamplingParams

        start = time.perf_counter()
        try:
            outputs = llm.chat(
                [request.message_dicts() for request in requests],
                sampling_params=[SamplingParams(**sampling_kwargs(r)) for r in requests],
                use_tqdm=False,
            )
            if len(outputs) != len(requests):
                raise RuntimeError(
                    f"vLLM returned {len(outputs)} outputs for {len(requests)} requests"
                )
        except Exception as exc:
            elapsed = time.perf_counter() - start
            message = f"{type(exc).__name__}: {exc}"
            return [
                ChatResponse.failure(message, kind=_ERROR_KIND, latency_s=elapsed)
                for _ in requests
            ]
        elapsed = time.perf_counter() - start
        return [_to_response(out, elapsed) for out in outputs]

    def _free(self) -> None:
        llm, self._llm = self._llm, None
        if llm is not None:
            del llm
            gc.collect()

    # -- caller side --------------------------------------------------------------------------

    async def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        """One response per request, in order; a failed batch makes every response an error.

        Raises :class:`PromptoptError` when the engine cannot be created at all.
        """
        batch = list(requests)
        if not batch:
            return []
        if self._closed:
            raise RuntimeError("VLLMBackend is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run_batch, batch)

    async def aclose(self) -> None:
        """Drop the engine and stop the worker thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._free)
        finally:
            self._executor.shutdown(wait=False)


def _to_response(output: Any, latency_s: float) -> ChatResponse:
    """Map one ``vllm.RequestOutput`` to a response (latency is the batch's wall time)."""
    try:
        completion = output.outputs[0]
        prompt_ids = getattr(output, "prompt_token_ids", None) or []
        return ChatResponse(
            text=completion.text,
            finish_reason=completion.finish_reason,
            usage=Usage(
                prompt_tokens=len(prompt_ids),
                completion_tokens=len(completion.token_ids),
                estimated=False,
            ),
            latency_s=latency_s,
        )
    except Exception as exc:  # a malformed output fails alone
        return ChatResponse.failure(
            f"{type(exc).__name__}: {exc}", kind=_ERROR_KIND, latency_s=latency_s
        )
