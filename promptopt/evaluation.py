"""Score candidate prompts on examples through the LLM layer: concurrent, cached, per example.

N candidates × M examples go to the client as one batch, so the endpoint's concurrency limit is
the only limit and repeated evaluations are served from the response cache. Every example keeps
its raw output, parsed prediction, score and tokens; the aggregate carries a 95% interval; two
candidates scored on the same examples can be compared with paired tests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

from promptopt.llm.client import LLMClient
from promptopt.llm.failures import FailureSummary, refuse_total_failure, summarize_failures
from promptopt.llm.records import ChatResponse, Sampling
from promptopt.prompt import Prompt
from promptopt.stats import Estimate, mcnemar_exact, mean_interval, paired_bootstrap
from promptopt.tasks.records import Example, ParsedAnswer
from promptopt.tasks.task import Task

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class ExampleResult:
    """One example's outcome. ``error`` is an LLM failure; ``parse_error`` a missing answer."""

    uid: str
    prediction: str | None
    raw_output: str
    score: float
    parse_ok: bool
    parse_error: str | None
    error: str | None
    prompt_tokens: int
    completion_tokens: int
    cached: bool

    @property
    def correct(self) -> bool:
        return self.score >= 1.0


@dataclass(frozen=True)
class EvalResult:
    """A candidate's scores on a list of examples."""

    prompt_hash: str
    metric: str
    records: tuple[ExampleResult, ...]
    estimate: Estimate
    split: str | None = None
    #: The failed requests by kind (None when built without the responses at hand).
    failures: FailureSummary | None = None

    @property
    def n(self) -> int:
        return len(self.records)

    @property
    def scores(self) -> list[float]:
        return [r.score for r in self.records]

    @property
    def parse_failures(self) -> int:
        return sum(1 for r in self.records if r.error is None and not r.parse_ok)

    @property
    def errors(self) -> int:
        return sum(1 for r in self.records if r.error is not None)

    @property
    def prompt_tokens(self) -> int:
        return sum(r.prompt_tokens for r in self.records if not r.cached)

    @property
    def completion_tokens(self) -> int:
        return sum(r.completion_tokens for r in self.records if not r.cached)

    @property
    def cached(self) -> int:
        return sum(1 for r in self.records if r.cached)

    def summary(self) -> dict[str, object]:
        """The aggregate as plain data (``eval --json``, a sharded evaluation's summary.json)."""
        est = self.estimate
        return {
            "prompt_hash": self.prompt_hash,
            "metric": self.metric,
            "n": self.n,
            "score": est.value,
            "low": est.low,
            "high": est.high,
            "interval_method": est.method,
            "parse_failures": self.parse_failures,
            "errors": self.errors,
            "cached": self.cached,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }


def _record(example: Example, response: ChatResponse, parsed: ParsedAnswer | None, score: float) -> ExampleResult:
    return ExampleResult(
        uid=example.uid,
        prediction=parsed.value if parsed is not None and parsed.ok else None,
        raw_output=response.text,
        score=score,
        parse_ok=parsed is not None and parsed.ok,
        parse_error=parsed.error if parsed is not None else None,
        error=response.error,
        prompt_tokens=response.usage.prompt_tokens,
        completion_tokens=response.usage.completion_tokens,
        cached=response.cached,
    )


async def evaluate(
    prompts: Sequence[Prompt],
    examples: Sequence[Example],
    task: Task,
    client: LLMClient,
    *,
    renderer: str = "paper",
    sampling: Sampling | None = None,
    split: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> list[EvalResult]:
    """Score every prompt on every example; one result per prompt, records in example order.

    A failed LLM call scores 0 and is counted in ``errors``; an output without a parsable answer
    scores 0 and is counted in ``parse_failures`` — neither is mapped to a default answer.
    """
    if not examples:
        raise ValueError("evaluate() needs at least one example")
    sampling = sampling or Sampling()
    inputs = [task.render_input(example) for example in examples]
    requests = [
        sampling.request(prompt.render(text, renderer)) for prompt in prompts for text in inputs
    ]
    total = len(requests)
    done = 0

    def progress(_: int, __: ChatResponse) -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(done, total)

    responses = await client.complete(requests, on_response=progress if on_progress else None)
    # nothing answered is not a score of 0: the server is down, refuses the key or the prompt
    refuse_total_failure(responses, client.endpoint, f"scoring {len(prompts)} prompt(s) on {len(examples)} example(s)")
    results: list[EvalResult] = []
    m = len(examples)
    for index, prompt in enumerate(prompts):
        chunk = responses[index * m : (index + 1) * m]
        if task.judge is not None:
            records = await _judge_records(task, examples, chunk, prompt.text())
        else:
            records = []
            for example, response in zip(examples, chunk):
                parsed = task.parse(response.text) if response.ok else None
                score = task.score(parsed, example.target) if parsed is not None else 0.0
                records.append(_record(example, response, parsed, score))
        results.append(
            EvalResult(
                prompt_hash=prompt.hash,
                metric=task.metric.name,
                records=tuple(records),
                estimate=mean_interval([r.score for r in records]),
                split=split,
                failures=summarize_failures(chunk),
            )
        )
    return results


async def _judge_records(
    task: Task, examples: Sequence[Example], responses: Sequence[ChatResponse], prompt_text: str = ""
) -> list[ExampleResult]:
    """Judge-scored tasks: the task's judge scores raw outputs; failed calls score 0.

    A judge with ``verdicts`` (the rubric judge) also sees the prompt (for its echo guard) and
    reports guard trips as parse failures and unusable judge answers as errors.
    """
    assert task.judge is not None
    ok = [i for i, r in enumerate(responses) if r.ok]
    outputs, chosen = [responses[i].text for i in ok], [examples[i] for i in ok]
    detailed = getattr(task.judge, "verdicts", None)
    if detailed is None:
        verdicts = {i: (score, None, None) for i, score in zip(ok, await task.judge.score(outputs, chosen))}
    else:
        judged = await detailed(outputs, chosen, prompt_texts=prompt_text)
        verdicts = {i: (v.reward, v.guard, v.error) for i, v in zip(ok, judged)}
    records = []
    for i, (example, response) in enumerate(zip(examples, responses)):
        score, guard, error = verdicts.get(i, (0.0, None, None))
        parsed = None
        if response.ok:
            parsed = ParsedAnswer.failed(f"guard: {guard}") if guard else ParsedAnswer(response.text, True)
        record = _record(example, response, parsed, score)
        if error is not None:
            record = replace(record, error=f"judge: {error}")
        records.append(record)
    return records


@dataclass(frozen=True)
class Comparison:
    """A − B on the same examples: mean difference, paired-bootstrap interval and p-value, and
    the exact McNemar test when the scores are right/wrong."""

    n: int
    mean_a: float
    mean_b: float
    difference: float
    low: float
    high: float
    p_bootstrap: float
    p_mcnemar: float | None
    a_only: int | None
    b_only: int | None


def compare(a: EvalResult, b: EvalResult, *, n_resamples: int = 10000, seed: int = 0) -> Comparison:
    """Paired comparison of two results on the same examples (in the same order)."""
    if [r.uid for r in a.records] != [r.uid for r in b.records]:
        raise ValueError("compare() needs both candidates scored on the same examples, in order")
    a_scores, b_scores = a.scores, b.scores
    boot = paired_bootstrap(a_scores, b_scores, n_resamples=n_resamples, seed=seed)
    binary = all(s in (0.0, 1.0) for s in a_scores + b_scores)
    mcnemar = mcnemar_exact([s == 1.0 for s in a_scores], [s == 1.0 for s in b_scores]) if binary else None
    return Comparison(
        n=a.n,
        mean_a=a.estimate.value,
        mean_b=b.estimate.value,
        difference=boot.mean_diff,
        low=boot.low,
        high=boot.high,
        p_bootstrap=boot.p_value,
        p_mcnemar=mcnemar.p_value if mcnemar else None,
        a_only=mcnemar.a_only if mcnemar else None,
        b_only=mcnemar.b_only if mcnemar else None,
    )
