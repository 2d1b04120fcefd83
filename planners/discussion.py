"""The discussion: a designer proposes, evaluators critique concurrently, the designer revises.

It stops when every evaluator agrees or the round budget runs out; without consensus the last
revision stands. A round is one critique of the current proposal (and, without consensus, one
revision), so with a budget of 3 the third revision is the plan the team carries out. The same
loop serves the first plan (``draft``) and progress adaptations (``adapt``: the designer returns
only the subtasks it changes, merged into the current plan by id).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from promptopt import records

from .costs import CostBook
from .llmcall import Ask, ModuleLLM
from .metaplan import Critique, MetaPlan, default_plan, parse_critique, parse_metaplan
from .prompts import adapt_prompt, critique_prompt, draft_prompt, revise_prompt, step_examples

__all__ = ["DiscussionLimits", "DiscussionResult", "discuss"]


@dataclass(frozen=True)
class DiscussionLimits:
    """Round budget (0: the designer's plan is used without critique) and token caps."""

    rounds: int = 3
    plan_tokens: int = 400
    critique_tokens: int = 160


@dataclass(frozen=True)
class DiscussionResult(records.Record):
    plan: MetaPlan
    consensus: bool | None  # None: nobody was asked (plan only, or a team of one)
    rounds: int
    messages: int
    characters: int
    log: tuple[dict[str, Any], ...]


def _read_plan(text: str | None, module: str, team: Sequence[str], costs: CostBook,
               fallback: MetaPlan) -> MetaPlan:
    if text is None:
        costs.fallback(f"{module}.default")
        return replace(fallback, version=0)
    parsed = parse_metaplan(text, team, fallback)
    if parsed.method != "json":
        costs.fallback(f"{module}.{parsed.method}")
    return parsed.value


def _read_critique(text: str | None, costs: CostBook) -> Critique:
    if text is None:
        costs.fallback("critique.default")
        return Critique(True)
    parsed = parse_critique(text)
    if parsed.method != "json":
        costs.fallback(f"critique.{parsed.method}")
    return parsed.value


async def discuss(llm: ModuleLLM, *, designer: str, team: Sequence[str], views: Mapping[str, Any],
                  limits: DiscussionLimits, current: MetaPlan | None = None,
                  progress: Sequence[str] = ()) -> DiscussionResult:
    """Run one discussion. ``views`` maps each agent to its latest observation (text and actions);
    with ``current`` and ``progress`` it is an adaptation of ``current``."""
    costs = llm.costs
    adapting = current is not None
    evaluators = [a for a in team if a != designer]
    own = views[designer]
    log: list[dict[str, Any]] = []
    messages = characters = 0

    def said(module: str, agent: str, text: str | None, **extra: Any) -> None:
        nonlocal messages, characters
        shown = text or ""
        costs.communicate(module, shown)
        messages += 1
        characters += len(shown)
        log.append({"module": module, "agent": agent, **extra})

    if adapting:
        assert current is not None
        module = "adapt"
        text = await llm.ask(Ask(module, designer, adapt_prompt(designer, team, own.text, current, progress,
                                                                    step_examples(own)),
                                 limits.plan_tokens))
        update = _read_plan(text, module, team, costs, MetaPlan(()))
        plan = current.merge(update)
    else:
        module = "draft"
        text = await llm.ask(Ask(module, designer, draft_prompt(designer, team, own.text, step_examples(own)),
                                 limits.plan_tokens))
        plan = _read_plan(text, module, team, costs, default_plan(team))
    said(module, designer, text, plan=plan.to_dict())

    consensus: bool | None = None
    rounds = 0
    for _ in range(limits.rounds if evaluators else 0):
        rounds += 1
        replies = await llm.ask_many([
            Ask("critique", e, critique_prompt(e, designer, views[e].text, plan), limits.critique_tokens)
            for e in evaluators])
        critiques = [(e, _read_critique(r, costs)) for e, r in zip(evaluators, replies)]
        for (e, c), r in zip(critiques, replies):
            said("critique", e, r, round=rounds, critique=c.to_dict())
        consensus = all(c.agree for _, c in critiques)
        if consensus:
            break
        text = await llm.ask(Ask("revise", designer, revise_prompt(designer, team, own.text, plan, critiques,
                                                                   update_only=adapting), limits.plan_tokens))
        if adapting:
            assert current is not None
            revision = plan.merge(_read_plan(text, "revise", team, costs, MetaPlan(())))
        else:
            revision = _read_plan(text, "revise", team, costs, plan)
        plan = replace(revision, version=0)
        said("revise", designer, text, round=rounds, plan=plan.to_dict())
    version = (current.version if current is not None else 0) + 1
    costs.modules[module].rounds += rounds
    return DiscussionResult(replace(plan, version=version), consensus, rounds, messages, characters, tuple(log))
