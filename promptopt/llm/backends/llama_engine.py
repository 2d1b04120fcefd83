"""One loaded llama.cpp model: the code that actually generates, wherever it runs.

The same engine serves requests in the worker process (the default) and on a thread of the
caller's process (``workers=0``); both paths turn a request into the same call parameters with
:func:`call_params`, which is why they give identical completions.

Not thread-safe: llama.cpp contexts must be used from one thread at a time.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any

from promptopt import records
from promptopt.errors import MissingExtraError, ModelSpecError
from promptopt.llm.records import ChatRequest, ChatResponse, Usage

#: The seed used when a request carries none, so that sampled runs are reproducible.
DEFAULT_SEED = 0
ERROR_KIND = "local_error"


def llama_seed(seed: int | None) -> int:
    """Map a request seed to llama.cpp's unsigned 32-bit seed (0xFFFFFFFF means 'random')."""
    value = DEFAULT_SEED if seed is None else seed & 0xFFFFFFFF
    return 0xFFFFFFFE if value == 0xFFFFFFFF else value


def call_params(request: ChatRequest) -> dict[str, Any]:
    """The JSON-ready arguments of one generation: all that determines the answer."""
    return {
        "messages": request.message_dicts(),
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
        "stop": list(request.stop),
        "seed": llama_seed(request.effective_seed()),
    }


@dataclass(frozen=True)
class EngineSettings(records.Record):
    """How to load a model (sent to a worker process as JSON). ``n_threads`` None lets llama.cpp
    choose."""

    model_path: str
    n_ctx: int = 2048
    n_threads: int | None = None
    #: Requests decoded together (:mod:`.llama_batch`); 1 serves them one at a time; None: as many
    #: as the model decodes with the same logits as one at a time, up to
    #: :data:`.llama_batch.AUTO_PARALLEL` (:func:`.llama_batch.exact_pass_size`, found on load).
    parallel: int | None = None
    #: Evaluate only the part of a prompt that the context (or a batch slot) holds already from the
    #: request before, as far as the answer stays the same (:func:`.llama_batch.reusable_prefix`).
    #: False starts every request from an empty context (only to measure what reuse buys).
    reuse_prefix: bool = True


class LlamaEngine:
    """A llama-cpp-python model, loaded on :meth:`load`."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self._llm: Any = None
        self._decoder: Any = None
        self._template: Any = None
        #: Where a prompt may skip what the context holds (:func:`.llama_batch.reuse_rule`, found
        #: on :meth:`load` when ``reuse_prefix``); None: every prompt is evaluated whole.
        self.reuse_rule: Any = None
        #: The previous request's prompt tokens, which the context holds (for prefix reuse).
        self._held: list[int] = []
        self._parallel = settings.parallel

    def load(self) -> None:
        """Load the model; raises :class:`ModelSpecError` when the file cannot be loaded."""
        if self._llm is not None:
            return
        try:
            import llama_cpp
        except ImportError as exc:
            raise MissingExtraError("local", "The local GGUF backend", "llama_cpp") from exc
        kwargs: dict[str, Any] = {
            "model_path": self.settings.model_path,
            "n_ctx": self.settings.n_ctx,
            # Flash attention stays off (llama.cpp's default here): prefix reuse keeps answers
            # exact with it off (see llama_batch.reusable_prefix for the condition). With it on,
            # 11 greedy answers in 60 from the batched decoder differed from one-at-a-time ones.
            "flash_attn": False,
            "verbose": False,
        }
        if self.settings.n_threads is not None:
            # Both: llama-cpp-python defaults the batch (prompt) threads to every core, which
            # oversubscribes the machine when several workers run side by side.
            kwargs["n_threads"] = self.settings.n_threads
            kwargs["n_threads_batch"] = self.settings.n_threads
        try:
            llm = llama_cpp.Llama(**kwargs)
        except Exception as exc:
            raise ModelSpecError(
                f"Local model file '{self.settings.model_path}' could not be loaded: {exc}"
            ) from exc
        # verbose=False leaves llama.cpp printing errors to stderr; silence it completely:
        # real failures surface as Python exceptions and become error responses.
        logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL)
        # What the checks below find depends only on the file, the build, the CPU and the context
        # settings: remembered on disk, so a worker that starts again skips them.
        from promptopt.llm.backends.kernel_checks import KernelChecks
        from promptopt.llm.backends.llama_batch import ReuseRule, reuse_rule

        checks = KernelChecks(llm, self.settings.model_path)
        if self.settings.reuse_prefix:
            found = checks.value("reuse_rule", lambda: _as_record(reuse_rule(llm)))
            self.reuse_rule = None if found is None else ReuseRule(**found)
            if self.reuse_rule is None:
                logging.getLogger("promptopt.local").info(
                    "prefix reuse off for %s: its logits differ for a prompt evaluated in parts",
                    self.settings.model_path)
        if self._parallel is None:
            self._parallel = int(checks.value("parallel", lambda: _auto_parallel(llm, self.settings.model_path)))
        self._llm = llm

    @property
    def reuses_prefix(self) -> bool:
        return self.reuse_rule is not None

    def _model(self) -> Any:
        if self._llm is None:
            self.load()
        return self._llm

    def complete(self, params: dict[str, Any]) -> ChatResponse:
        """One generation from :func:`call_params`; failures become error responses."""
        start = time.perf_counter()
        try:
            from promptopt.llm.backends.llama_batch import FIXED_SAMPLING

            llm = self._model()
            prompt = self._limit_reuse(llm, params["messages"])
            result = llm.create_chat_completion(
                messages=params["messages"],
                temperature=params["temperature"],
                top_p=params["top_p"],
                **FIXED_SAMPLING,
                max_tokens=params["max_tokens"],
                stop=params["stop"],
                seed=params["seed"],
            )
            self._held = prompt
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
        except ModelSpecError:
            raise
        except Exception as exc:
            return ChatResponse.failure(
                f"{type(exc).__name__}: {exc}", kind=ERROR_KIND, latency_s=time.perf_counter() - start
            )

    def _limit_reuse(self, llm: Any, messages: Any) -> list[int]:
        """llama-cpp-python evaluates only what follows the longest prefix a prompt shares with
        the context's tokens; cap that prefix where the answer would change
        (:func:`.llama_batch.reusable_prefix`), or start from an empty context. Returns the
        prompt's tokens, which the context holds once the request is answered."""
        from promptopt.llm.backends.llama_batch import ChatTemplate, reusable_prefix

        held, self._held = self._held, []  # until this request's answer, the context is unknown
        if self.reuses_prefix and self._template is None:
            try:
                self._template = ChatTemplate(llm)
            except ValueError:  # a model without its own template: no reuse
                self._template = False
        if not (self.reuses_prefix and self._template):
            llm.reset()
            return []
        prompt, _ = self._template.render(messages)
        llm.n_tokens = min(llm.n_tokens, reusable_prefix(held, prompt, self.reuse_rule))
        return prompt

    def decoder(self) -> Any:
        """The batched decoder over this model (created on first use), for ``parallel`` > 1."""
        if self._decoder is None:
            from promptopt.llm.backends.llama_batch import BatchDecoder

            self._decoder = BatchDecoder(self._model(), slots=self.parallel, n_ctx=self.settings.n_ctx,
                                         n_threads=self.settings.n_threads, reuse=self.reuse_rule)
        return self._decoder

    @property
    def parallel(self) -> int:
        """Requests decoded together: the setting, or what :meth:`load` found for None."""
        if self._parallel is None:
            self.load()
        return self._parallel  # type: ignore[return-value]

    @property
    def batched(self) -> bool:
        """Whether requests go through the batched decoder rather than one at a time."""
        return self.parallel > 1

    def complete_many(self, params: list[dict[str, Any]]) -> list[ChatResponse]:
        """Responses in order: through the batched decoder (:attr:`batched`), else one at a time."""
        if not self.batched:
            return [self.complete(p) for p in params]
        results: dict[int, ChatResponse] = {}
        for key, response in self.run_batched(enumerate(params)):
            results[key] = response
        return [results[i] for i in range(len(params))]

    def run_batched(self, requests: Any, poll: Any = None) -> Any:
        """:meth:`BatchDecoder.run`, with a failure of the decoding itself (not of one request)
        turned into an error response for every request still in it."""
        started = time.perf_counter()
        pending: dict[Any, None] = {}

        def tracked(items: Any) -> Any:
            for key, item in items:
                pending[key] = None
                yield key, item

        try:
            for key, response in self.decoder().run(tracked(requests), (lambda: tracked(poll())) if poll else None):
                pending.pop(key, None)
                yield key, response
        except ModelSpecError:
            raise
        except Exception as exc:  # noqa: BLE001 - llama.cpp failed mid-batch
            failure = ChatResponse.failure(f"{type(exc).__name__}: {exc}", kind=ERROR_KIND,
                                           latency_s=time.perf_counter() - started)
            for key in list(pending):
                yield key, failure

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under the model's tokenizer (no BOS, no template)."""
        return len(self._model().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def close(self) -> None:
        decoder, self._decoder = self._decoder, None
        if decoder is not None:
            decoder.close()
        llm, self._llm = self._llm, None
        if llm is not None:
            llm.close()


def _as_record(rule: Any) -> dict[str, Any] | None:
    return None if rule is None else dataclasses.asdict(rule)


def _auto_parallel(llm: Any, model_path: str) -> int:
    """``parallel`` left to the engine: batched where a pass of several sequences computes what
    each computes alone (:func:`.llama_batch.exact_pass_size`), so answers stay those of one at a
    time; one at a time for a model without its own chat template (the batched decoder renders
    prompts with it)."""
    from promptopt.llm.backends.llama_batch import AUTO_PARALLEL, ChatTemplate, exact_pass_size

    try:
        ChatTemplate(llm)
    except ValueError:
        return 1
    size = exact_pass_size(llm, AUTO_PARALLEL)
    if size < AUTO_PARALLEL:
        logging.getLogger("promptopt.local").info(
            "batched decoding of %s: %d sequences per pass (more change its logits)", model_path, size)
    return size


def system_info() -> str:
    """llama.cpp's description of the CPU features this build uses."""
    import llama_cpp

    raw = llama_cpp.llama_print_system_info()
    return (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)).strip()
