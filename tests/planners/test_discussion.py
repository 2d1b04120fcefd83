"""The discussion loop against scripted models on the loopback server."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from promptopt.planners.costs import CostBook
from promptopt.planners.discussion import DiscussionLimits, discuss
from promptopt.planners.environments import TransportEnv, load_suite
from promptopt.planners.llmcall import ModuleLLM

from promptopt.testing import policies

sys.path.insert(0, str(Path(__file__).parent))
import llm_world


def _views(n_agents: int = 2):
    spec = load_suite("test24").episodes[0]
    env = TransportEnv(dataclasses.replace(spec.config(), n_agents=n_agents))
    return env.agents, env.reset(spec.seed)


async def test_consensus_in_round_one(server_factory, client_for) -> None:
    server = server_factory(policy=llm_world.good_planner())
    client = client_for(server)
    team, views = _views(3)
    llm = ModuleLLM(client, CostBook(), seed=0)
    result = await discuss(llm, designer="Alice", team=team, views=views, limits=DiscussionLimits(rounds=3))
    assert result.consensus is True and result.rounds == 1
    assert result.plan.version == 1
    assert {s.agent for s in result.plan.subtasks} == set(team)
    calls = {m: row["calls"] for m, row in llm.costs.to_dict()["modules"].items() if row["calls"]}
    assert calls == {"draft": 1, "critique": 2}  # both evaluators, once; no revision
    assert result.messages == 3 and result.characters == sum(len(e["reply"]) for e in llm.transcript)
    # the two critiques were sent together: both entries exist before either reply is read
    assert [e["agent"] for e in llm.transcript] == ["Alice", "Bob", "Charlie"]
    await client.aclose()


async def test_no_consensus_after_three_rounds_keeps_the_last_revision(server_factory, client_for) -> None:
    server = server_factory(policy=llm_world.never_agree())
    client = client_for(server)
    team, views = _views(2)
    llm = ModuleLLM(client, CostBook(), seed=0)
    result = await discuss(llm, designer="Bob", team=team, views=views, limits=DiscussionLimits(rounds=3))
    assert result.consensus is False and result.rounds == 3
    assert result.plan.rationale == "revision 3"
    assert [llm.costs.spend(m).requests for m in ("draft", "critique", "revise")] == [1, 3, 3]
    assert llm.costs.modules["draft"].rounds == 3
    assert [e["module"] for e in result.log] == ["draft", "critique", "revise"] * 1 + ["critique", "revise"] * 2
    # the designer saw the evaluator's objection when revising
    revise_prompt = next(e["prompt"] for e in llm.transcript if e["module"] == "revise")
    assert "Alice does not agree" in revise_prompt and "too slow" in revise_prompt
    await client.aclose()


async def test_plan_only_asks_nobody_and_unreadable_replies_fall_back(server_factory, client_for) -> None:
    server = server_factory(policy=policies.constant("I am not sure what you mean."))
    client = client_for(server)
    team, views = _views(2)
    llm = ModuleLLM(client, CostBook(), seed=0)
    solo = await discuss(llm, designer="Alice", team=team, views=views, limits=DiscussionLimits(rounds=0))
    assert solo.consensus is None and solo.rounds == 0
    assert llm.costs.fallbacks == {"draft.default": 1}
    assert [s.agent for s in solo.plan.subtasks] == list(team)  # the default: everyone on their own
    both = await discuss(llm, designer="Alice", team=team, views=views, limits=DiscussionLimits(rounds=2))
    assert both.consensus is True  # a critique that says nothing usable does not block the plan
    assert llm.costs.fallbacks["critique.default"] == 1


async def test_adaptation_updates_only_the_named_subtask(server_factory, client_for) -> None:
    def adapt(text: str) -> str:
        return json.dumps({"subtasks": [{"id": "s2", "agent": "Bob", "goal": "fetch the new targets",
                                         "steps": ["wait"]}], "rationale": "Alice found targets"})

    server = server_factory(policy=llm_world.router(
        draft=lambda t: json.dumps(llm_world.split_plan(t)), critique=lambda t: '{"agree": true}',
        revise=lambda t: "{}", adapt=adapt, act=lambda t: "A"))
    client = client_for(server)
    team, views = _views(2)
    llm = ModuleLLM(client, CostBook(), seed=0)
    first = await discuss(llm, designer="Alice", team=team, views=views, limits=DiscussionLimits())
    second = await discuss(llm, designer="Alice", team=team, views=views, limits=DiscussionLimits(), current=first.plan,
                           progress=["tick 60: Alice: new target: apple (3) in the Kitchen"])
    assert second.plan.version == 2 and second.consensus
    assert second.plan.get("s1") == first.plan.get("s1")
    assert second.plan.get("s2").goal == "fetch the new targets"
    adapt_prompt = next(e["prompt"] for e in llm.transcript if e["module"] == "adapt")
    assert "new target: apple (3)" in adapt_prompt and "[s1] Alice" in adapt_prompt
    await client.aclose()


async def test_plan_and_critique_fallbacks_through_the_server(server_factory, client_for) -> None:
    full = json.dumps({"subtasks": [{"id": "s1", "agent": "Alice", "goal": "explore", "steps": ["go to Kitchen"]},
                                    {"id": "s2", "agent": "Bob", "goal": "explore", "steps": ["go to Office"]}]})
    server = server_factory(policy=llm_world.router(
        draft=lambda t: "Alice: go to Kitchen; explore current room Kitchen\nBob: go to Office",
        # the drafted plan gets a sloppy JSON objection, the revised one a plain-words one
        critique=lambda t: "{'agree': False, 'issues': ['Bob is slow',],}" if "explore current room Kitchen" in t
        else "No, I disagree.",
        revise=lambda t: "```json\n" + full[:-25], adapt=str, act=str))
    client = client_for(server)
    team, views = _views(2)
    llm = ModuleLLM(client, CostBook(), seed=0)
    result = await discuss(llm, designer="Alice", team=team, views=views, limits=DiscussionLimits(rounds=2))
    assert dict(llm.costs.fallbacks) == {"draft.lines": 1, "critique.repaired": 1, "critique.lines": 1,
                                         "revise.repaired": 2}
    assert result.consensus is False
    # the revision was cut off by the token cap inside Bob's steps: closed and read as far as it went
    assert [(s.agent, s.steps) for s in result.plan.subtasks] == [("Alice", ("go to Kitchen",)), ("Bob", ())]
    await client.aclose()
