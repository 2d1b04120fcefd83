"""What a budget buys, before the first request: requests and tokens per generation.

Users of prompt optimizers ask what a budget will buy before they spend it; one ran with a budget
that bought a single proposal and called it a success. ``optimize`` and ``bench`` therefore print,
before any request, the requests and tokens of scoring the initial population (generation 0) and
of one later generation, and so about how many generations the budget allows; a budget that cannot
pay for generation 0 and one generation after it is refused (exit 2, ``--force`` overrides).

Requests are counted from the settings and the data (the run's own layout of dev blocks and
few-shot pool), assuming every meta proposal comes back valid and new; a racing generation is a
range, from every new candidate eliminated after its first block to every contender scored on all
blocks. Tokens come from rendering the real requests with a sample instruction (the given initial
prompts, else the task description) at about four characters per token; completions are at most
``max_tokens`` each and at least one token, so token figures are a range too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence

from promptopt.errors import UsageError
from promptopt.llm.records import Sampling
from promptopt.prompt import FewShot, Prompt
from promptopt.tasks.records import Example

if TYPE_CHECKING:
    from promptopt.budget import Budget
    from promptopt.llm.client import LLMClient
    from promptopt.tasks.task import Task

#: Expected request counts by kind. A kind is ``"eval"`` (a candidate on a dev example), ``"shot"``
#: (a few-shot example answered under an instruction), ``"judge"`` (a judge call on one output) or
#: ``"meta:NAME"`` (one meta-prompt: ``init``, ``crossover``, ``mutation``, ``opro``, ``ga``, ``de``).
Counts = Mapping[str, float]


@dataclass(frozen=True)
class DataLayout:
    """Where a run's dev examples go: the few-shot pool, the dev set, its blocks (example
    indices) and how many blocks count as full evidence. An optimizer computes it without side
    effects, so the estimate sees exactly the data the run will."""

    pool: tuple[Example, ...]
    dev: tuple[Example, ...]
    blocks: tuple[tuple[int, ...], ...]
    max_blocks: int
    heldout: tuple[Example, ...] = ()

    @property
    def block_size(self) -> int:
        return len(self.blocks[0]) if self.blocks else 0


class Estimable(Protocol):
    """What the estimate reads of a constructed optimizer (``promptopt.optimizers.base.Optimizer``)."""

    name: str
    task: Task
    config: Any
    initial_prompts: tuple[str, ...]
    downstream: LLMClient
    meta: LLMClient

    def _layout(self) -> DataLayout: ...

    def planned_requests(self, layout: DataLayout) -> RequestPlan | None: ...

_CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class RequestPlan:
    """What an optimizer's initialization and one generation send, by request kind."""

    initial: Counts
    generation_low: Counts
    generation_high: Counts
    #: Few-shot examples in an evaluated prompt, on average (CAPO's are drawn from 0..K).
    shots: float = 0.0
    #: What the counts leave out (shown with the estimate).
    excludes: tuple[str, ...] = ()


@dataclass(frozen=True)
class StageCost:
    """Requests and tokens of one stage (generation 0, or one later generation), all roles."""

    requests: int
    prompt_tokens: int
    max_completion_tokens: int
    by_role: Mapping[str, int] = field(default_factory=dict)
    #: US dollars (fewest, most completion tokens); None when a role's price is unknown.
    usd_low: float | None = 0.0
    usd_high: float | None = 0.0

    @property
    def tokens_low(self) -> int:
        """Prompt tokens plus one completion token a request: no run of these requests costs less."""
        return self.prompt_tokens + self.requests

    @property
    def tokens_high(self) -> int:
        return self.prompt_tokens + self.max_completion_tokens

    def __add__(self, other: StageCost) -> StageCost:
        roles = {r: self.by_role.get(r, 0) + other.by_role.get(r, 0) for r in {*self.by_role, *other.by_role}}
        return StageCost(self.requests + other.requests, self.prompt_tokens + other.prompt_tokens,
                         self.max_completion_tokens + other.max_completion_tokens, dict(sorted(roles.items())),
                         _plus(self.usd_low, other.usd_low), _plus(self.usd_high, other.usd_high))

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "tokens_low": self.tokens_low, "tokens_high": self.tokens_high,
                "usd_low": self.usd_low, "usd_high": self.usd_high, "by_role": dict(self.by_role)}


def _plus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


@dataclass(frozen=True)
class RunEstimate:
    """The preflight estimate of one run."""

    optimizer: str
    initial: StageCost
    generation_low: StageCost
    generation_high: StageCost
    excludes: tuple[str, ...] = ()
    #: How prompt tokens were counted: "the model's tokenizer" or "about 4 characters a token".
    counted_by: str = "the model's tokenizer"

    @property
    def margin(self) -> float:
        """The share of the least cost a budget may fall short by before it is refused: none when
        a tokenizer counted, a quarter when characters were (a tokenizer may be that much leaner)."""
        return 0.0 if self.counted_by == "the model's tokenizer" else 0.25

    @property
    def first_generation(self) -> StageCost:
        """Generation 0 and the cheapest generation after it: the least a run that searches costs."""
        return self.initial + self.generation_low

    def generations(self, budget: Budget) -> tuple[int, int | None] | None:
        """About how many generations after generation 0 the budget's resource limits allow
        (fewest, most; most None when unbounded), or None when the budget has no resource limit."""
        limits = _limits(budget)
        if not limits:
            return None
        low_counts, high_counts = [], []
        for kind, limit in limits.items():
            if kind == "tokens":
                first, cheap, dear = self.initial.tokens_low, self.generation_low.tokens_low, self.generation_high.tokens_high
                start = self.initial.tokens_high
            elif kind == "usd":
                if self.initial.usd_low is None or self.generation_low.usd_low is None:
                    continue  # unknown prices buy an unknown number of generations
                first, cheap = self.initial.usd_low, self.generation_low.usd_low or 0.0
                start, dear = self.initial.usd_high or 0.0, self.generation_high.usd_high or 0.0
            else:
                first, cheap, dear, start = (self.initial.requests, self.generation_low.requests,
                                             self.generation_high.requests, self.initial.requests)
            low_counts.append(max(0, math.floor((limit - start) / dear)) if dear else 0)
            high_counts.append(max(0, math.floor((limit - first) / cheap)) if cheap else None)
        if not low_counts:
            return None
        finite = [h for h in high_counts if h is not None]
        return min(low_counts), (min(finite) if finite else None)

    def expected_requests(self, budget: Budget) -> int | None:
        """About how many requests the whole run sends: generation 0, then the middle of the
        generations the budget buys (at most its generation limit) at the middle of a generation's
        range. None when nothing bounds the run."""
        span = self.generations(budget)
        cap = _generation_cap(budget)
        if span is not None and span[1] is not None:
            count = (span[0] + span[1]) / 2
            count = count if cap is None else min(count, cap)
        elif cap is not None:
            count = cap
        else:
            return None
        per = (self.generation_low.requests + self.generation_high.requests) / 2
        return round(self.initial.requests + count * per)

    def shortfall(self, budget: Budget) -> str | None:
        """Why the budget cannot pay for generation 0 and one generation after it, or None."""
        need = self.first_generation
        limits = _limits(budget)
        if "tokens" in limits and limits["tokens"] < need.tokens_low * (1 - self.margin):
            return (f"the token budget ({limits['tokens']:,}) is below the least that generation 0 and one "
                    f"generation cost ({need.tokens_low:,} tokens, {need.requests:,} requests)")
        if "usd" in limits and need.usd_low is not None and limits["usd"] < need.usd_low * (1 - self.margin):
            return (f"the cost budget (${limits['usd']:,.4f}) is below the least that generation 0 and one "
                    f"generation cost (${need.usd_low:,.4f}, {need.requests:,} requests)")
        if "calls" in limits and limits["calls"] < need.requests:
            return (f"the call limit ({limits['calls']:,}) is below the requests of generation 0 and one "
                    f"generation ({need.requests:,})")
        return None

    def lines(self, budget: Budget | None = None) -> list[str]:
        """The estimate as a person reads it (stderr before the run, ``--dry-run``)."""
        def stage(cost: StageCost) -> str:
            roles = ", ".join(f"{role} {n:,}" for role, n in cost.by_role.items())
            usd = "" if cost.usd_low is None else f", ${cost.usd_low:,.4f}-${cost.usd_high or 0.0:,.4f}"
            return f"{cost.requests:,} requests ({roles}), {cost.tokens_low:,}-{cost.tokens_high:,} tokens{usd}"

        out = [f"preflight ({self.optimizer}): generation 0 (initial population): {stage(self.initial)}"]
        if not self.generation_high.requests:
            out.append("preflight: no search after generation 0")
            budget = None
        elif self.generation_low == self.generation_high:
            out.append(f"preflight: each later generation: {stage(self.generation_low)}")
        else:
            out.append(f"preflight: each later generation: {stage(self.generation_low)} (every new candidate "
                       f"out after one block) to {stage(self.generation_high)} (all raced on every block)")
        if budget is not None:
            span = self.generations(budget)
            cap = _generation_cap(budget)
            if span is not None:
                low, high = span
                upper = "no limit" if high is None else f"{high:,}"
                text = f"about {low:,}-{upper} generations" if high != low else f"about {low:,} generations"
                if cap is not None:
                    text += f" (generation limit {cap})"
                out.append(f"preflight: this budget buys {text}")
        out.append(f"preflight: prompt tokens counted with {self.counted_by}; completions at least 1 token, "
                   "at most max_tokens each")
        if self.excludes:
            out.append(f"preflight: not counted: {', '.join(self.excludes)}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer, "counted_by": self.counted_by, "initial": self.initial.to_dict(),
                "generation_low": self.generation_low.to_dict(), "generation_high": self.generation_high.to_dict(),
                "excludes": list(self.excludes)}


def _limits(budget: Budget) -> dict[str, float]:
    from promptopt.budget import CallLimit, TokenLimit, USDLimit

    limits: dict[str, float] = {}
    for condition in budget.conditions:
        if isinstance(condition, TokenLimit):
            limits["tokens"] = min(limits.get("tokens", math.inf), condition.limit)
        elif isinstance(condition, USDLimit):
            limits["usd"] = min(limits.get("usd", math.inf), condition.limit)
        elif isinstance(condition, CallLimit):
            limits["calls"] = min(limits.get("calls", math.inf), condition.limit)
    return limits


def _generation_cap(budget: Budget) -> int | None:
    from promptopt.budget import MaxGenerations

    caps = [c.n for c in budget.conditions if isinstance(c, MaxGenerations)]
    return min(caps) if caps else None


class PreflightRefused(UsageError):
    """A budget too small for one generation (``--force`` runs it anyway); exit 2."""


def check_prices(budget: Budget, clients: Mapping[str, Any]) -> None:
    """A dollar budget needs every role priced: an unknown price is not zero, and a run that
    counted it as zero would overspend. Raises :class:`UsageError` naming the unpriced endpoints."""
    from promptopt.budget import USDLimit

    if not any(isinstance(c, USDLimit) for c in budget.conditions):
        return
    unpriced = sorted({client.endpoint for client in clients.values() if client.price is None})
    if unpriced:
        raise UsageError(
            f"--budget-usd: no price is known for {', '.join(unpriced)}; add "
            "'?usd_per_mtok_in=…&usd_per_mtok_out=…' (US dollars per million prompt / completion tokens) "
            "to the model spec, or budget in tokens (--budget-tokens)"
        )


async def estimate(optimizer: Estimable) -> RunEstimate | None:
    """The estimate for a constructed optimizer, before it runs: no LLM request is sent (the
    sample prompts are counted with the model's tokenizer, see :mod:`promptopt.tokens`)."""
    layout = optimizer._layout()
    plan = optimizer.planned_requests(layout)
    if plan is None:
        return None
    sizes = _KindSizes(optimizer, layout, plan.shots)
    await sizes.measure([*plan.initial, *plan.generation_low, *plan.generation_high])
    return RunEstimate(
        optimizer.name,
        sizes.cost(plan.initial),
        sizes.cost(plan.generation_low),
        sizes.cost(plan.generation_high),
        plan.excludes,
        counted_by="about 4 characters a token" if sizes.estimated else "the model's tokenizer",
    )


class _KindSizes:
    """Prompt tokens and completion caps of each request kind, from rendering real requests."""

    def __init__(self, optimizer: Estimable, layout: DataLayout, shots: float) -> None:
        self.optimizer = optimizer
        self.layout = layout
        self.shots = shots
        task = optimizer.task
        given = [p.strip() for p in optimizer.initial_prompts if p.strip()]
        self.instruction = max(given, key=len) if given else task.description
        self.inputs = [task.render_input(e) for e in (layout.dev or layout.pool)[:5]]  # a sample: one count each
        self._cache: dict[str, tuple[str, int, int]] = {}
        #: Some role had no tokenizer at hand without a request: its counts are ~4 characters a token.
        self.estimated = False

    async def measure(self, kinds: Sequence[str]) -> None:
        """Size every kind: render its sample requests and count them with a tokenizer at hand
        without a request (the local model's, tiktoken's), else at ~4 characters a token: the
        preflight sends nothing, so a bad flag or file is still reported before any request."""
        from promptopt.tokens import local_token_lengths

        wanted = {kind: self._sample(kind) for kind in dict.fromkeys(kinds) if kind not in self._cache}
        by_role: dict[str, list[str]] = {}
        for kind, (role, texts, _, _) in wanted.items():
            by_role.setdefault(role, []).extend(texts)
        counts: dict[str, dict[str, int]] = {}
        for role, texts in by_role.items():
            client = self._client(role)
            unique = list(dict.fromkeys(texts))
            try:
                counted = await local_token_lengths(unique, client)
            except Exception:  # noqa: BLE001 - an estimate must not fail a run: fall back to characters
                counted = None
            if counted is None:
                self.estimated = True
            lengths = [n.value for n in counted] if counted is not None else [_text_tokens(t) for t in unique]
            counts[role] = dict(zip(unique, lengths))
        for kind, (role, texts, overhead, cap) in wanted.items():
            sizes = [counts[role][t] for t in texts]
            self._cache[kind] = (role, round(sum(sizes) / len(sizes)) + overhead, cap)

    def _client(self, role: str) -> Any:
        if role == "judge":
            return getattr(getattr(self.optimizer, "judge", None), "client", None) or self.optimizer.downstream
        return self.optimizer.meta if role == "meta" else self.optimizer.downstream

    def cost(self, counts: Counts) -> StageCost:
        requests = prompt = completion = 0.0
        usd_low: float | None = 0.0
        usd_high: float | None = 0.0
        by_role: dict[str, float] = {}
        for kind, n in counts.items():
            if n <= 0:
                continue
            role, tokens, cap = self._size(kind)
            requests += n
            prompt += n * tokens
            completion += n * cap
            by_role[role] = by_role.get(role, 0.0) + n
            price = self._price(role)
            if price is None:
                usd_low = usd_high = None
            elif usd_low is not None and usd_high is not None:
                usd_low += n * (tokens * price.prompt_usd + price.completion_usd)
                usd_high += n * (tokens * price.prompt_usd + cap * price.completion_usd)
        return StageCost(round(requests), math.ceil(prompt), math.ceil(completion),
                         {r: round(v) for r, v in sorted(by_role.items())}, usd_low, usd_high)

    def _price(self, role: str) -> Any:
        client = {"downstream": self.optimizer.downstream, "meta": self.optimizer.meta}.get(role)
        if role == "judge":
            judge = getattr(self.optimizer, "judge", None)
            client = getattr(judge, "client", None)
        return getattr(client, "price", None)

    def _size(self, kind: str) -> tuple[str, int, int]:
        return self._cache[kind]

    def _sample(self, kind: str) -> tuple[str, list[str], int, int]:
        """(role, sample texts, per-request overhead in tokens, completion cap) of one kind."""
        config = getattr(self.optimizer.config, "search", self.optimizer.config)
        sampling: Sampling = config.sampling
        renderer = config.renderer
        if kind in ("eval", "shot"):
            prompt = Prompt(self.instruction, self._shots() if kind == "eval" else ())
            rendered = [prompt.render(text, renderer) for text in (self.inputs or [""])]
            return ("downstream", ["".join(m.content for m in messages) for messages in rendered],
                    4 * len(rendered[0]), sampling.max_tokens or 256)
        if kind == "judge":
            judge = getattr(self.optimizer, "judge", None)
            rubric = judge.rubric.to_dict() if judge is not None else {}
            mpo = getattr(self.optimizer, "mpo", None)
            cap = mpo.judge_sampling.max_tokens if mpo is not None else 384
            texts = [f"{rubric}\n{text}" for text in (self.inputs or [""])]
            return "judge", texts, 8 + (sampling.max_tokens or 256), cap or 384
        meta_sampling: Sampling = config.meta_sampling
        return "meta", [self._meta_prompt(kind.split(":", 1)[1])], 8, meta_sampling.max_tokens or 512

    def _shots(self) -> tuple[FewShot, ...]:
        from promptopt.operators import bare_answer

        task = self.optimizer.task
        whole = math.floor(self.shots)
        pool = list(self.layout.pool)[:whole] if whole else []
        return tuple(FewShot(input=task.render_input(e), output=bare_answer(task, e.target)) for e in pool)

    def _meta_prompt(self, name: str) -> str:
        from promptopt import operators as ops

        description, text = self.optimizer.task.description, self.instruction
        if name == "init":
            return ops.initial_meta_prompt(description, None, 0)
        if name == "crossover":
            return ops.crossover_meta_prompt(description, text, text)
        if name == "mutation":
            return ops.mutation_meta_prompt(description, text)
        if name == "ga":
            return ops.ga_meta_prompt(description, text, text)
        if name == "de":
            return ops.de_meta_prompt(description, text, text, text, text)
        if name == "opro":
            task = self.optimizer.task
            shown = getattr(self.optimizer.config, "max_shown", 8)
            examples = getattr(self.optimizer.config, "examples_shown", 3)
            pairs = [(text, 0.5)] * shown
            sample = [(task.render_input(e), ops.bare_answer(task, e.target)) for e in self.layout.dev[:examples]]
            return ops.opro_meta_prompt(description, pairs, sample)
        raise ValueError(f"unknown request kind 'meta:{name}'")


def _text_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / _CHARS_PER_TOKEN))


def initial_population(given: Sequence[str], population: int) -> tuple[int, int]:
    """(members of the initial population, meta requests to write them): the given instructions
    when two or more are distinct (μ of them at most, no meta request), else μ with one meta
    request per missing instruction (see ``promptopt.operators.initial``)."""
    distinct = {" ".join(p.split()).casefold() for p in given if p.strip()}
    if len(distinct) >= 2:
        return min(len(distinct), population), 0
    return population, population - len(distinct)
