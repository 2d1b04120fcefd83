"""Batched decoding: several requests share each llama.cpp forward pass.

Where decoding is bound by streaming the weights once per token (a GPU, a larger model, more
cores), one forward pass over the next token of N sequences streams them once for all N, so N
requests decode in little more than the time of one. Where it is compute-bound (SmolLM2-135M on
2 cores: a pass of 8 sequences costs 51–54 ms, 6.3–6.8 ms a sequence, against 12–14 ms for one
alone) it halves the cost of a generated token, and prefix reuse saves about as much on prompts.
This is continuous batching as llama.cpp's own server does it with parallel slots: each request
is a sequence (its own id and KV cells), a request that finishes frees its slot at once, and a
waiting request takes it while the others go on.

What a request gets does not depend on what else is in the batch: the prompt is rendered with the
model's chat template exactly as ``create_chat_completion`` renders it, and each request samples
with its own copy of the sampler chain llama-cpp-python builds for one request
(:func:`sampler_chain`: arg-max when greedy, else seeded by the request). The logits themselves come
from llama.cpp's batched kernels and equal the one-at-a-time ones as long as no forward pass
mixes a prompt with other sequences' tokens (:meth:`BatchDecoder._step`), so greedy and seeded
sampled answers alike equal the one-at-a-time ones; ``bench/local_throughput.py`` checks it on
200 requests. That holds for weights llama.cpp computes row by row (SmolLM2's Q4_1); with weights
it repacks for GEMM kernels, 4 or more sequences decoded together got other logits than one alone
(Qwen2.5-Coder-0.5B's Q4_K_M), so there an answer can depend on the batch. That is why the engine's
default batch size is the largest pass this model computes exactly here (:func:`exact_pass_size`).
Replay is exact regardless: every answer goes through the cache.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

from promptopt.llm.records import ChatResponse, Usage

__all__ = ["AUTO_PARALLEL", "ROW_BY_ROW", "ROW_GROUPS", "BatchDecoder", "ChatTemplate", "FIXED_SAMPLING",
           "ReuseRule", "exact_pass_size", "prefix_reuse_is_exact", "reusable_prefix", "reuse_rule", "sampler_chain"]

#: Sampler settings every local request uses, whatever it asks for: llama-cpp-python's defaults
#: (top-k 40, min-p 0.05) would cut the distribution where the request's temperature and
#: ``top_p`` say nothing about it.
FIXED_SAMPLING: dict[str, Any] = {"top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0}


def sampler_chain(llm: Any, params: dict[str, Any]) -> Any:
    """The sampler llama-cpp-python's ``create_chat_completion`` builds for a request (its
    ``_init_sampler``, after seeding with the request's seed): the same chain on the same logits
    draws the same tokens, so a sampled request answers in a batch as it does alone."""
    llm.set_seed(params["seed"])
    return llm._init_sampler(temp=params["temperature"], top_p=params["top_p"], **FIXED_SAMPLING)


@dataclass(frozen=True)
class ReuseRule:
    """Where a prompt may be cut between the prefix a context holds and the part evaluated now,
    with the logits of the whole prompt evaluated at once (:func:`reuse_rule` finds the rule a
    model and build keep): a cut is a multiple of ``step`` and at least ``min_prefix``, at least
    ``min_rest`` tokens are evaluated, and a prompt longer than ``max_prompt`` is evaluated whole.
    """

    step: int = 1
    min_prefix: int = 0
    min_rest: int = 2
    max_prompt: int | None = None


#: Kernels that compute each token's row alone (SmolLM2's Q4_1): any cut that leaves two tokens.
ROW_BY_ROW = ReuseRule()
#: llama.cpp's GEMM kernels for repacked weights (Q4_K, IQ4_NL on AVX2) compute rows in groups of
#: four: passes that start at multiples of 4 and hold 8 tokens or more were exact at every such
#: cut on Qwen2.5-Coder-0.5B (other cuts moved its logits by up to 0.37). A prompt longer than one
#: pass (512 tokens) is cut into passes by llama.cpp itself, elsewhere, so it is not reused.
ROW_GROUPS = ReuseRule(step=4, min_prefix=8, min_rest=8, max_prompt=512)


def reusable_prefix(held: Sequence[int], prompt: Sequence[int], rule: ReuseRule = ROW_BY_ROW) -> int:
    """How many of ``prompt``'s first tokens can be taken from a context that holds ``held`` (the
    previous request's *prompt* tokens, never its generated ones) with the same answer as
    evaluating the whole prompt, under ``rule``.

    llama.cpp (flash attention off, its default) computes bit-identical logits for a prompt
    evaluated in parts, as long as every token was evaluated in a pass of at least two tokens,
    with kernels that compute each row alone: a pass of one token takes other kernels, whose sums
    round differently (measured: the last prompt token evaluated alone changed logits by up to
    0.32; every split into parts of two tokens or more, on five prompts at every cut, changed
    none). Generated tokens are evaluated one at a time, so they are not reused; and at least the
    prompt's last ``rule.min_rest`` tokens are evaluated, together.
    """
    if rule.max_prompt is not None and len(prompt) > rule.max_prompt:
        return 0
    count = 0
    for a, b in zip(held, prompt[: max(0, len(prompt) - rule.min_rest)]):
        if a != b:
            break
        count += 1
    count -= count % rule.step
    return count if count >= rule.min_prefix else 0


#: Plain texts whose tokens :func:`reuse_rule` evaluates whole and in parts: the short one at
#: every cut, the long one at cuts off the groups of four (for :data:`ROW_BY_ROW`, so that kernels
#: that change only for longer passes show) or on them (for :data:`ROW_GROUPS`).
_PROBE_TEXT = "Answer positive or negative: the film was a witty delight."
_LONG_PROBE_TEXT = ("You label movie reviews for a study. Read the review, think about the writer's opinion, "
                    "ignore the plot, and answer with one word: positive or negative. Review: a witty, warm delight.")


def reuse_rule(llm: Any) -> ReuseRule | None:
    """The first of :data:`ROW_BY_ROW` and :data:`ROW_GROUPS` under which this model, on this
    llama.cpp build and CPU, computes bit-identical logits for a prompt evaluated whole and cut
    in two at every place the rule allows; None when neither holds (then no prefix is reused).

    SmolLM2's Q4_1 weights keep :data:`ROW_BY_ROW`. Weights that llama.cpp repacks for its GEMM
    kernels (Q4_K and IQ4_NL on AVX2, measured) compute rows in groups, and a row's result then
    depends on where its pass starts: with Qwen2.5-Coder-0.5B's Q4_K_M, 15 of 18 cuts of a 21-token
    prompt moved the logits (by up to 0.37), and reuse at any cut changed 3 of 48 sst2 answers
    (temperature 0.1). Each check runs in a small context of its own with the model's context settings
    (about 1.2 s for SmolLM2-135M on 2 cores, 3 s for Qwen2.5-Coder-0.5B).
    """
    short, long = (llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
                   for text in (_PROBE_TEXT, _LONG_PROBE_TEXT))

    def allowed(tokens: Sequence[int], rule: ReuseRule) -> list[int]:
        return [c for c in range(max(2, rule.min_prefix), len(tokens) - rule.min_rest + 1) if c % rule.step == 0]

    long_cuts = allowed(long, ROW_BY_ROW)
    checks = {
        ROW_BY_ROW: [(short, allowed(short, ROW_BY_ROW)), (long, long_cuts[9::16] + long_cuts[-1:])],
        ROW_GROUPS: [(long, allowed(long, ROW_GROUPS))],
    }
    for rule, probes in checks.items():
        if all(prefix_reuse_is_exact(llm, tokens, cuts) for tokens, cuts in probes):
            return rule
    return None


def prefix_reuse_is_exact(llm: Any, tokens: Sequence[int], cuts: Sequence[int]) -> bool:
    """Whether ``tokens`` get bit-identical last logits evaluated in one pass and in two, cut at
    each of ``cuts`` in turn."""
    import numpy as np

    n = len(tokens)
    with _ProbeContext(llm, n_ctx=max(64, n), seqs=1) as probe:
        def evaluate(start: int, stop: int) -> Any:
            return probe.feed([(tokens[p], p, 0, p == stop - 1) for p in range(start, stop)])[0]

        whole = evaluate(0, n)
        for cut in cuts:
            probe.clear()
            evaluate(0, cut)
            if not np.array_equal(evaluate(cut, n), whole):
                return False
        return True


#: What ``parallel`` becomes when it is left to the engine (:func:`exact_pass_size`): beyond 8
#: sequences a pass gains little on CPUs (SmolLM2-135M on 2 cores: 1.92x at 8, 1.93x at 16).
AUTO_PARALLEL = 8

#: Short prompts, one per sequence, for :func:`exact_pass_size`.
_PASS_PROBE_WORDS = ("witty", "dull", "slow", "warm", "loud", "grim", "fine", "sharp")


def exact_pass_size(llm: Any, limit: int = AUTO_PARALLEL) -> int:
    """The most sequences (up to ``limit``) whose next tokens one forward pass computes with the
    logits each gets in a pass alone, at every pass size up to it; 1 when two already differ.

    Rows of a pass are independent with kernels that compute each row alone (SmolLM2's Q4_1:
    8 of 8 exact). Weights llama.cpp repacks for GEMM kernels compute rows in groups of four, so
    a row's logits depend on the rows beside it: Qwen2.5-Coder-0.5B's Q4_K_M was exact for passes
    of 2 and 3 sequences and moved by up to 0.33 from 4 on. About 0.5 s for SmolLM2-135M on
    2 cores, in a small context of its own with the model's context settings.
    """
    import numpy as np

    seqs = max(1, limit)
    prompts = [llm.tokenize(f"Review: {_PASS_PROBE_WORDS[s % len(_PASS_PROBE_WORDS)]}.".encode("utf-8"),
                            add_bos=True, special=False) for s in range(seqs)]
    with _ProbeContext(llm, n_ctx=32 * seqs, seqs=seqs) as probe:
        for seq, prompt in enumerate(prompts):
            probe.feed([(token, p, seq, p == len(prompt) - 1) for p, token in enumerate(prompt)])
        nxt = llm.tokenize(b" positive", add_bos=False, special=False)[0]
        rows = [(nxt, len(prompt), seq, True) for seq, prompt in enumerate(prompts)]

        def decode(part: list[tuple[int, int, int, bool]]) -> list[Any]:
            logits = probe.feed(part)
            for _, position, seq, _ in part:  # back to the prompt alone, for the next pass
                probe.forget(seq, position)
            return logits

        alone = [decode([row])[0] for row in rows]
        for size in range(2, seqs + 1):
            together = decode(rows[:size])
            if not all(np.array_equal(a, b) for a, b in zip(together, alone)):
                return size - 1
        return seqs


class _ProbeContext:
    """A small llama.cpp context of its own, with the model's context settings, for the checks
    above: it feeds rows ``(token, position, seq_id, want_logits)`` in one pass and returns copies
    of the logits asked for."""

    def __init__(self, llm: Any, *, n_ctx: int, seqs: int) -> None:
        import llama_cpp

        self._lib = llama_cpp
        params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)
        params.n_ctx = n_ctx
        if seqs > 1:  # as the batched decoder: each sequence its own cells
            params.n_seq_max, params.kv_unified = seqs, False
        self._ctx = llama_cpp.llama_init_from_model(llm._model.model, params)
        if not self._ctx:
            raise RuntimeError("llama.cpp could not create a context to check its kernels")
        self._size = int(params.n_batch)
        self._batch = llama_cpp.llama_batch_init(self._size, 0, 1)
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._n_vocab = llm.n_vocab()

    def __enter__(self) -> "_ProbeContext":
        return self

    def __exit__(self, *exc: object) -> None:
        self._lib.llama_batch_free(self._batch)
        self._lib.llama_free(self._ctx)

    def feed(self, rows: Sequence[tuple[int, int, int, bool]]) -> list[Any]:
        import numpy as np

        if len(rows) > self._size:
            raise ValueError(f"a probe pass holds at most {self._size} tokens, got {len(rows)}")
        batch = self._batch
        for i, (token, position, seq, want) in enumerate(rows):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, position, 1
            batch.seq_id[i][0], batch.logits[i] = seq, want
        batch.n_tokens = len(rows)
        if self._lib.llama_decode(self._ctx, batch) != 0:
            raise RuntimeError("llama_decode failed while checking the model's kernels")
        return [np.ctypeslib.as_array(self._lib.llama_get_logits_ith(self._ctx, i), shape=(self._n_vocab,)).copy()
                for i, row in enumerate(rows) if row[3]]

    def forget(self, seq: int, start: int) -> None:
        """Drop a sequence's cells from ``start`` on."""
        self._lib.llama_memory_seq_rm(self._memory, seq, start, -1)

    def clear(self) -> None:
        self._lib.llama_memory_clear(self._memory, True)


class ChatTemplate:
    """The model's chat template as llama-cpp-python applies it (GGUF ``tokenizer.chat_template``)."""

    def __init__(self, llm: Any) -> None:
        from llama_cpp import llama_chat_format

        template = llm.metadata.get("tokenizer.chat_template")
        if template is None or llm.chat_format != "chat_template.default":
            raise ValueError(f"batched decoding needs the model's own chat template (this model uses {llm.chat_format!r})")
        eos, bos = llm.token_eos(), llm.token_bos()
        self._formatter = llama_chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )
        self._llm = llm

    def render(self, messages: Sequence[dict[str, str]]) -> tuple[list[int], list[str]]:
        """The prompt tokens and the template's own stop strings."""
        result = self._formatter(messages=list(messages))
        tokens = self._llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
        stop = [] if result.stop is None else [result.stop] if isinstance(result.stop, str) else list(result.stop)
        return tokens, stop


@dataclass
class _Sequence:
    """One request in flight: its prompt, what it generated, and its own sampler state."""

    key: Any
    params: dict[str, Any]
    prompt: list[int]
    stop: list[str]
    sampler: Any  # llama-cpp-python's LlamaSampler (:func:`sampler_chain`)
    started: float
    seq_id: int = -1
    fed: int = 0  # prompt tokens already in the KV cache
    borrowed: bool = False  # looked for a longer prefix in the other slots (:meth:`BatchDecoder._borrow`)
    generated: list[int] = field(default_factory=list)
    pending: int | None = None  # sampled, not yet fed
    text: str = ""
    finish: str | None = None


class BatchDecoder:
    """Decode many chat requests together in one llama.cpp context with ``slots`` sequences.

    ``n_ctx`` is each sequence's context; ``n_batch`` bounds the tokens of one forward pass.
    Not thread-safe (one llama.cpp context).
    """

    #: The fewest prompt tokens a copy of another slot's cells must save (:meth:`_borrow`).
    MIN_BORROW = 16

    def __init__(self, llm: Any, *, slots: int, n_ctx: int, n_batch: int = 512, n_threads: int | None = None,
                 reuse: ReuseRule | None = ROW_BY_ROW) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._llm = llm
        self.slots = slots
        self.n_ctx = n_ctx
        #: Where prompts may reuse a slot's cached prefix (:func:`reuse_rule`); None: never.
        self.reuse = reuse
        self.n_batch = n_batch
        self.template = ChatTemplate(llm)
        # The loaded model's own context settings (attention kernel, KV types, threads), so that a
        # sequence computes what the one-at-a-time context computes; then room for ``slots``.
        params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)
        params.n_ctx = n_ctx * slots
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = slots
        params.kv_unified = False  # each sequence its own n_ctx cells
        if n_threads is not None:
            params.n_threads = n_threads
            params.n_threads_batch = n_threads
        self._ctx = llama_cpp.llama_init_from_model(llm._model.model, params)
        if not self._ctx:
            raise RuntimeError("llama.cpp could not create a batched context")
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
        #: The prompt tokens in each slot's KV cells, kept after its request ends for the next to
        #: reuse (its generated tokens are there too, but not reusable: :func:`reusable_prefix`).
        self._cached: list[list[int]] = [[] for _ in range(slots)]

    def close(self) -> None:
        if self._batch is not None:
            self._lib.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx:
            self._lib.llama_free(self._ctx)
            self._ctx = None

    # -- public -----------------------------------------------------------------------------------

    def complete(self, params: Sequence[dict[str, Any]]) -> list[ChatResponse]:
        """One response per parameter set (see ``llama_engine.call_params``), in order."""
        results: list[ChatResponse | None] = [None] * len(params)
        for index, response in self.run(enumerate(params)):
            results[index] = response
        return results  # type: ignore[return-value]

    def run(
        self, requests: Iterable[tuple[Any, dict[str, Any]]], poll: Callable[[], Iterable[tuple[Any, dict[str, Any]]]] | None = None
    ) -> Iterator[tuple[Any, ChatResponse]]:
        """Decode ``(key, params)`` pairs; yield ``(key, response)`` as each finishes. ``poll``
        is asked before every forward pass for requests that arrived meanwhile: they join the
        decoding in progress as soon as a slot is free (continuous batching)."""
        waiting: deque[tuple[Any, dict[str, Any]]] = deque(requests)
        active: list[_Sequence] = []
        free = set(range(self.slots))
        try:
            yield from self._loop(waiting, active, free, poll)
        except BaseException:
            self._forget()  # the KV cells of an interrupted pass hold nothing to reuse
            raise

    def _loop(self, waiting: deque[tuple[Any, dict[str, Any]]], active: list[_Sequence], free: set[int],
              poll: Callable[[], Iterable[tuple[Any, dict[str, Any]]]] | None) -> Iterator[tuple[Any, ChatResponse]]:
        while True:
            if poll is not None:
                waiting.extend(poll())
            if not (waiting or active):
                return
            while waiting and free:
                key, item = waiting.popleft()
                started = time.perf_counter()
                try:
                    sequence = self._admit(key, item, started)
                except Exception as exc:  # noqa: BLE001 - a bad request fails alone
                    yield key, ChatResponse.failure(f"{type(exc).__name__}: {exc}", kind="local_error",
                                                      latency_s=time.perf_counter() - started)
                    continue
                self._place(sequence, free)
                active.append(sequence)
            if not active:
                continue
            for sequence in self._step(active):
                active.remove(sequence)
                free.add(sequence.seq_id)
                yield sequence.key, self._response(sequence)

    def _place(self, sequence: _Sequence, free: set[int]) -> None:
        """Put a sequence in a free slot. With :attr:`reuse`, the slot whose cached prompt
        shares the longest prefix with its prompt, evaluating only the rest (a candidate's requests
        share instruction and examples), with the same answer (:func:`reusable_prefix`)."""
        def shared(slot: int) -> int:
            return reusable_prefix(self._cached[slot], sequence.prompt, self.reuse) if self.reuse else 0

        slot = max(sorted(free), key=shared)  # the lowest id among equals (all 0 without reuse)
        free.remove(slot)
        keep = shared(slot)
        self._lib.llama_memory_seq_rm(self._memory, slot, keep, -1)
        del self._cached[slot][keep:]
        sequence.seq_id, sequence.fed = slot, keep

    def _borrow(self, sequence: _Sequence) -> None:
        """Just before a sequence's prompt is evaluated: when another slot holds a longer reusable
        prefix of it than its own (a candidate's instruction and examples, evaluated by the
        sequence before it), copy that slot's KV cells instead of evaluating the prefix again.
        Exact as reuse within a slot is (:func:`reusable_prefix`). A copy moves the whole slot
        (llama.cpp copies streams whole, at the start of the next pass: tens of MB, a few ms),
        so it is made only for a gain of at least :attr:`MIN_BORROW` tokens."""
        sequence.borrowed = True
        slot = sequence.seq_id
        best, keep = slot, sequence.fed
        for other, cached in enumerate(self._cached):
            if other != slot and (shared := reusable_prefix(cached, sequence.prompt, self.reuse)) > keep:
                best, keep = other, shared
        if best == slot or keep - sequence.fed < self.MIN_BORROW:
            return
        self._lib.llama_memory_seq_cp(self._memory, best, slot, -1, -1)
        self._lib.llama_memory_seq_rm(self._memory, slot, keep, -1)
        self._cached[slot] = self._cached[best][:keep]
        sequence.fed = keep

    def _forget(self) -> None:
        self._lib.llama_memory_clear(self._memory, True)
        for cached in self._cached:
            cached.clear()

    # -- steps ------------------------------------------------------------------------------------

    def _admit(self, key: Any, params: dict[str, Any], started: float) -> _Sequence:
        prompt, template_stop = self.template.render(params["messages"])
        if len(prompt) >= self.n_ctx:  # the words llama-cpp-python's one-at-a-time path uses
            raise ValueError(f"Requested tokens ({len(prompt)}) exceed context window of {self.n_ctx}")
        sampler = sampler_chain(self._llm, params)
        stop = [s for s in [*params.get("stop", []), *template_stop] if s]
        return _Sequence(key=key, params=params, prompt=prompt, stop=stop, sampler=sampler, started=started)

    def _step(self, active: list[_Sequence]) -> list[_Sequence]:
        """One forward pass: one sequence's prompt (a chunk of it) when any is waiting to be
        evaluated, else the next token of every generating sequence. Returns the sequences that
        finished.

        A pass never mixes a prompt with other sequences' tokens, nor two prompts: llama.cpp
        splits such a pass into micro-batches by sequence, and the answers then differ from those
        of the same prompt evaluated alone (measured: 1 greedy answer in 12 for two prompts, 14 in
        200 for a reused prefix's remainder beside generating sequences). Kept apart, every answer
        equals the one-at-a-time one, a prompt evaluated in parts (:func:`reusable_prefix`) included.
        Prompt evaluation is compute-bound, so generating sequences lose little by waiting."""
        batch = self._batch
        n = 0
        wants: list[tuple[_Sequence, int]] = []
        prompting = next((s for s in active if s.fed < len(s.prompt)), None)
        if prompting is not None:
            if self.reuse is not None and not prompting.borrowed:
                self._borrow(prompting)
            take = min(len(prompting.prompt) - prompting.fed, self.n_batch)
            for position in range(prompting.fed, prompting.fed + take):
                last = position == len(prompting.prompt) - 1
                self._put(n, prompting.prompt[position], position, prompting.seq_id, last)
                self._cached[prompting.seq_id].append(prompting.prompt[position])
                if last:
                    wants.append((prompting, n))
                n += 1
            prompting.fed += take
        else:
            # In seq-id order: llama.cpp puts only consecutive ids in one micro-batch (one
            # ``llama_decode`` of ids 3, 0, 1, 2 runs as {3} then {0, 1, 2}).
            for sequence in sorted(active, key=lambda s: s.seq_id):
                if sequence.pending is not None:
                    self._put(n, sequence.pending, len(sequence.prompt) + len(sequence.generated) - 1,
                              sequence.seq_id, True)
                    wants.append((sequence, n))
                    sequence.pending = None
                    n += 1
        batch.n_tokens = n
        status = self._lib.llama_decode(self._ctx, batch)
        if status != 0:
            raise RuntimeError(f"llama_decode failed with status {status}")
        finished = []
        for sequence, row in wants:
            token = self._sample(sequence, row)
            if self._accept(sequence, token):
                finished.append(sequence)
        return finished

    def _put(self, i: int, token: int, position: int, seq_id: int, logits: bool) -> None:
        batch = self._batch
        batch.token[i] = token
        batch.pos[i] = position
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = seq_id
        batch.logits[i] = logits

    def _sample(self, sequence: _Sequence, row: int) -> int:
        return self._lib.llama_sampler_sample(sequence.sampler.sampler, self._ctx, row)

    def _accept(self, sequence: _Sequence, token: int) -> bool:
        """Record a sampled token; True when the sequence is finished."""
        if self._lib.llama_vocab_is_eog(self._vocab, token):
            sequence.finish = "stop"
            return True
        sequence.generated.append(token)
        text = self._llm.detokenize(sequence.generated, prev_tokens=sequence.prompt).decode("utf-8", errors="ignore")
        cut = min((text.find(s) for s in sequence.stop if s in text), default=-1)
        if cut >= 0:
            sequence.text, sequence.finish = text[:cut], "stop"
            return True
        sequence.text = text
        max_tokens = sequence.params.get("max_tokens") or 0
        limit = self.n_ctx - len(sequence.prompt) if max_tokens <= 0 else max_tokens
        if len(sequence.generated) >= limit or len(sequence.prompt) + len(sequence.generated) >= self.n_ctx:
            sequence.finish = "length"
            return True
        sequence.pending = token
        return False

    def _response(self, sequence: _Sequence) -> ChatResponse:
        sequence.sampler.close()
        return ChatResponse(
            text=sequence.text,
            finish_reason=sequence.finish,
            usage=Usage(prompt_tokens=len(sequence.prompt), completion_tokens=len(sequence.generated)),
            latency_s=time.perf_counter() - sequence.started,
        )
