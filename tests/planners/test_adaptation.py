"""Progress-adaptive planning: events, debounce, cap, designer choice, and the executor."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

from promptopt.planners.adaptation import AdaptationSchedule, ProgressEvent, ProgressMonitor
from promptopt.planners.config import PlannerConfig
from promptopt.planners.environments import Event, HouseholdConfig, HouseholdEnv, TransportConfig, TransportEnv, load_suite
from promptopt.planners.scripted import make_household_team
from promptopt.planners.episode import run_planner_episode
from promptopt.planners.execution import PlanExecutor
from promptopt.planners.metaplan import MetaPlan, Subtask

sys.path.insert(0, str(Path(__file__).parent))
import llm_world

TEAM = ("Alice", "Bob", "Charlie")


def test_debounce_cap_and_designer_is_who_made_progress_lowest_index_on_ties() -> None:
    s = AdaptationSchedule(TEAM, debounce_ticks=100, cap=2)
    assert not s.due(0)
    s.add([ProgressEvent(50, "Charlie", "new target", "apple (3)"), ProgressEvent(50, "Bob", "new container", "bowl (4)"),
           ProgressEvent(70, "Alice", "goal found", "Bedroom")])
    assert s.due(70)
    designer, events = s.take(70)
    assert designer == "Bob" and len(events) == 3  # earliest tick; Bob before Charlie; all merged
    s.add([ProgressEvent(90, "Charlie", "subtask done", "[s3]")])
    assert not s.due(169) and s.due(170)  # debounce: 100 ticks after the last adaptation
    assert s.take(170)[0] == "Charlie"
    s.add([ProgressEvent(400, "Alice", "new target", "pear (9)")])
    assert not s.due(1000) and s.dropped == 1  # the cap of 2 is reached


def test_monitor_reports_first_sightings_for_the_team_only() -> None:
    env = TransportEnv(TransportConfig(n_agents=2))
    obs = env.reset(1)  # exploring Alice's start room turns up two targets
    monitor = ProgressMonitor()
    monitor.prime(list(obs.values()))
    assert all(monitor.observe(o) == [] for o in obs.values())
    result = env.step({"Alice": f"explore current room {obs['Alice'].view.room}", "Bob": "wait"})
    while "Alice" not in result.observations:
        result = env.step({})
    found = monitor.observe(result.observations["Alice"])
    assert any(e.kind == "new target" and e.agent == "Alice" for e in found), found
    assert monitor.observe(result.observations["Alice"]) == []  # not news twice


def test_monitor_reports_household_targets_and_goal_receptacles_once() -> None:
    env = HouseholdEnv(HouseholdConfig())
    obs = env.reset(31_000)
    goals = next(iter(obs.values())).view.goals
    team = make_household_team("greedy-pair", env, seed=1)
    monitor = ProgressMonitor()
    monitor.prime(list(obs.values()))
    events: list[ProgressEvent] = []
    for _ in range(2000):
        result = env.step({name: team[name].act(o) for name, o in obs.items()})
        for o in result.observations.values():
            events += monitor.observe(o)
        obs = result.observations
        if result.done:
            break
    needed = {g.item for g in goals}
    targets = [e for e in events if e.kind == "new target"]
    assert targets and all(any(name in e.detail for name in needed) for e in targets), targets
    details = [part for e in targets for part in e.detail.split(", ")]
    assert len(details) == len(set(details))  # each item is news once, for the whole team
    found = [e for e in events if e.kind == "goal found"]
    assert len(found) <= len({g.target for g in goals})
    assert {e.kind for e in events} <= {"new target", "goal found"}


def test_executor_runs_matching_steps_then_reports_done_and_infeasible() -> None:
    plan = MetaPlan((Subtask("s1", "Alice", "explore", ("go to Kitchen", "explore current room Kitchen")),
                     Subtask("s2", "Alice", "fetch", ("go grasp target object apple (3)",))), version=1)
    ex = PlanExecutor("Alice")
    acts = ("go to Kitchen", "explore current room Office", "wait")
    plan, sub, _, action, _ = ex.next_step(plan, acts, 0)
    assert (sub.id, action) == ("s1", "go to Kitchen")
    plan, _ = ex.settle(plan, [Event(60, "Alice", "go to Kitchen", "interrupted", "saw apple")], 60)
    plan, _, _, action, _ = ex.next_step(plan, acts, 60)
    assert action == "go to Kitchen"  # interrupted: the same step again
    plan, _ = ex.settle(plan, [Event(90, "Alice", "go to Kitchen", "finished")], 90)
    in_kitchen = ("go to Office", "explore current room Kitchen", "wait")
    plan, _, _, action, _ = ex.next_step(plan, in_kitchen, 90)
    assert action == "explore current room Kitchen"
    plan, done = ex.settle(plan, [Event(140, "Alice", "explore current room Kitchen", "finished")], 140)
    assert [e.kind for e in done] == ["subtask done"] and plan.get("s1").status == "done"
    grasp = ("go grasp target object apple (3)", "wait")
    plan, sub, _, action, _ = ex.next_step(plan, grasp, 140)
    assert sub.id == "s2" and action == grasp[0]
    plan, bad = ex.settle(plan, [Event(900, "Alice", grasp[0], "failed", "Bob took it first")], 900)
    assert [e.kind for e in bad] == ["subtask infeasible"] and plan.get("s2").status == "infeasible"
    assert ex.next_step(plan, grasp, 900)[1] is None  # nothing left for Alice


def test_unmatched_step_goes_to_the_model_until_patience_runs_out() -> None:
    plan = MetaPlan((Subtask("s1", "Bob", "look", ("find the apples", "wait")),))
    ex = PlanExecutor("Bob", step_patience=2)
    acts = ("go to Kitchen", "wait")
    for _ in range(2):
        plan, _, step, action, _ = ex.next_step(plan, acts, 0)
        assert (step, action) == ("find the apples", None)
    assert ex.next_step(plan, acts, 0)[3] == "wait"  # given up: on to the next step


def _adapt_on_target(text: str) -> str:
    """Whoever designs: give the finder a subtask for the first new target; keep the rest."""
    me = llm_world._agent(text)
    target = llm_world.re.search(r"new target: (\w[\w ]*? \(\d+\))", text)
    if not target:
        return '{"subtasks": []}'
    return json.dumps({"subtasks": [{"id": f"fetch-{me}", "agent": me, "goal": f"fetch {target.group(1)}",
                                     "steps": [f"go grasp target object {target.group(1)}"]}],
                       "rationale": "new target"})


async def test_discovering_a_target_triggers_an_adaptation_by_the_finder(server_factory, client_for) -> None:
    policy = llm_world.router(draft=lambda t: json.dumps(llm_world.split_plan(t)), critique=lambda t: '{"agree": true}',
                              revise=lambda t: "{}", adapt=_adapt_on_target, act=llm_world._capo_act)
    client = client_for(server_factory(policy=policy))
    spec = load_suite("test24").episodes[0]
    config = PlannerConfig(agents="capo", debounce_ticks=150, max_replans=3)
    record = await run_planner_episode(spec, config, client, seed=0)
    adaptations = [h for h in record["plans"] if h["module"] == "adapt"]
    assert 1 <= len(adaptations) <= 3 and len(adaptations) == record["planning"]["replans"]
    first = next(h for h in adaptations if any(e["kind"] == "new target" for e in h["trigger"]))
    earliest = min(e["tick"] for e in first["trigger"])
    assert first["designer"] == min((e["agent"] for e in first["trigger"] if e["tick"] == earliest), key=["Alice", "Bob"].index)
    before = record["plans"][record["plans"].index(first) - 1]["plan"]
    after = first["plan"]
    assert after["version"] == before["version"] + 1
    new_ids = {s["id"] for s in after["subtasks"]} - {s["id"] for s in before["subtasks"]}
    assert new_ids == {f"fetch-{first['designer']}"}
    unchanged = [s for s in before["subtasks"]]
    assert all({**s, "status": None} == {**next(t for t in after["subtasks"] if t["id"] == s["id"]), "status": None}
               for s in unchanged)  # the drafted subtasks are untouched (their status moves on)
    ticks = [h["tick"] for h in adaptations]
    assert all(b - a >= 150 for a, b in itertools.pairwise(ticks))
    await client.aclose()
