"""Scripted "models" for the planning loop, served by the loopback test server.

Each policy reads only the prompt text (as a real model would) and answers deterministically.
``good_planner`` splits the rooms between the agents in its meta-plan and, when asked for an
action, collects greedily but only in its own rooms: the loop's gain when the model plans well.
``coela_greedy`` answers the baseline's action prompts with the same greedy rule, without a plan
to keep the agents apart, and never talks. Small helpers build the policies of the discussion
tests (consensus at once, never consensus, a targeted adaptation).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

DRAFT = "Write the team's meta-plan"
CRITIQUE = "Check the plan"
REVISE = "Revise the plan"
ADAPT = "Update the plan for this progress"
ACT = "Which action do you take now"
MESSAGE = "Write one short sentence"

_ACTION_LINE = re.compile(r"^([A-Z]|A\d+)\. (.+)$", re.MULTILINE)


def _user(request) -> str:
    return request.last_user


def _agent(text: str) -> str:
    return re.search(r"You are (\w+)", text).group(1)


def _team(text: str) -> list[str]:
    return [a.strip() for a in re.search(r"of the team ([\w, ]+)\.", text).group(1).split(",")]


def _rooms(text: str) -> tuple[list[str], list[str]]:
    m = re.search(r"Rooms explored: (.*?)\. Not explored: (.*?)\.", text)
    explored = [] if m.group(1) == "none" else m.group(1).split(", ")
    todo = [] if m.group(2) == "none" else m.group(2).split(", ")
    return explored, todo


def _letter(actions: list[tuple[str, str]], action: str) -> str:
    return next(label for label, a in actions if a == action)


# ------------------------------------------------------------------ plans
def split_plan(text: str) -> dict:
    """Unexplored rooms (but the Bedroom) dealt out in turn; the first one's "go to" + "explore" as
    steps, the rest named in the goal (the action rule keeps the agent to them)."""
    team = _team(text)
    explored, todo = _rooms(text)
    here = re.search(r"I am \w+, in the (\w+)\.", text).group(1)
    rooms = sorted(r for r in set(todo + [here]) - set(explored) if r != "Bedroom")
    subtasks = []
    for i, agent in enumerate(team):
        mine = rooms[i::len(team)]
        steps = [s for r in mine[:1] for s in (f"go to {r}", f"explore current room {r}")]
        subtasks.append({"id": f"s{i + 1}", "agent": agent, "goal": "explore " + ", ".join(mine)
                         + " and deliver the targets found there", "steps": steps, "status": "todo"})
    return {"subtasks": subtasks, "rationale": "split the rooms so nobody searches twice"}


def own_rooms(text: str, agent: str) -> set[str]:
    """Rooms named in the goals of the agent's own subtasks (from the plan shown in the prompt)."""
    rooms: set[str] = set()
    for line in text.splitlines():
        m = re.match(rf"\[\S+\] {agent} \(\w+\): explore (.*?) and deliver", line)
        if m:
            rooms |= {r.strip() for r in m.group(1).split(",") if r.strip()}
    return rooms


# ------------------------------------------------------------------ the greedy action rule
def greedy(text: str, own: set[str] | None) -> str:
    """A letter: put, deliver when full or late, fetch a container, the nearest target (own rooms
    first), explore, go somewhere unexplored; ``own=None`` means no plan restricts the rooms."""
    actions = _ACTION_LINE.findall(text)
    acts = [a for _, a in actions]
    tick, horizon = map(int, re.search(r"Tick (\d+)/(\d+)", text).groups())
    left = horizon - tick
    here = re.search(r"in the (\w+)\. Left hand", text).group(1)
    hands = re.search(r"Left hand: (.*?); right hand: (.*?)\.\n", text).groups()
    holding = [h for h in hands if h != "nothing"]
    has_container = any("containing" in h for h in holding)
    explored, todo = _rooms(text)
    targets = dict(re.findall(r"(\w[\w ]*? \(\d+\)) in the (\w+) \(seen", text.split("Known containers")[0]))
    pick = lambda a: _letter(actions, a)
    transport = "transport objects I'm holding to the bed"
    for a in acts:
        if a.startswith("put "):
            return pick(a)
    if holding and (len(holding) == 2 or left < 450):
        if transport in acts:
            return pick(transport)
        if "go to Bedroom" in acts:  # the bed is not found yet: it is in the Bedroom
            return pick("go to Bedroom")
    grasps = [a for a in acts if a.startswith("go grasp target object ")]

    def room_of(a: str) -> str | None:
        return targets.get(a[len("go grasp target object "):])

    mine = [a for a in grasps if own is None or room_of(a) in own]
    if not has_container and left > 600 and not holding:
        cons = [a for a in acts if a.startswith("go grasp container ")]
        if cons and mine:
            return pick(cons[0])
    if mine:
        return pick(min(mine, key=lambda a: (room_of(a) != here, acts.index(a))))
    if here not in explored and (own is None or here in own):
        return pick(f"explore current room {here}")
    rest = [r for r in todo if r != "Bedroom" and (own is None or r in own)]
    if rest and f"go to {rest[0]}" in acts:
        return pick(f"go to {rest[0]}")
    if holding and transport in acts:
        return pick(transport)
    if holding and "go to Bedroom" in acts:
        return pick("go to Bedroom")
    if grasps:  # own rooms are done: help with the rest
        return pick(min(grasps, key=lambda a: (room_of(a) != here, acts.index(a))))
    others = [r for r in todo if f"go to {r}" in acts]
    if others:
        return pick(f"go to {others[0]}")
    return pick("wait")


# ------------------------------------------------------------------ policies
def router(*, draft: Callable[[str], str], critique: Callable[[str], str], revise: Callable[[str], str],
           adapt: Callable[[str], str], act: Callable[[str], str], message: Callable[[str], str] = lambda t: "On my way."):
    def policy(request) -> str:
        text = _user(request)
        for marker, answer in ((DRAFT, draft), (CRITIQUE, critique), (REVISE, revise), (ADAPT, adapt),
                               (ACT, act), (MESSAGE, message)):
            if marker in text:
                return answer(text)
        return "?"

    return policy


def _capo_act(text: str) -> str:
    me = _agent(text)
    return greedy(text, own_rooms(text, me) or None)


def good_planner():
    return router(draft=lambda t: json.dumps(split_plan(t)),
                  critique=lambda t: json.dumps({"agree": True, "issues": [], "suggested_changes": [],
                                                 "new_information": []}),
                  revise=lambda t: json.dumps(split_plan(t)),
                  adapt=lambda t: json.dumps({"subtasks": [], "rationale": "still on track"}),
                  act=_capo_act)


def coela_greedy():
    return router(draft=lambda t: "{}", critique=lambda t: "{}", revise=lambda t: "{}", adapt=lambda t: "{}",
                  act=lambda t: greedy(t, None))


def never_agree():
    """Evaluators always object; each revision is numbered from the plan it revises."""
    def revise(text: str) -> str:
        plan = json.loads(re.search(r"Your plan:\n(\{.*\})\n", text).group(1))
        m = re.match(r"revision (\d+)", plan.get("rationale", ""))
        plan["rationale"] = f"revision {int(m.group(1)) + 1 if m else 1}"
        return json.dumps(plan)

    def draft(text: str) -> str:
        return json.dumps({**split_plan(text), "rationale": "draft"})

    return router(draft=draft, revise=revise, adapt=lambda t: '{"subtasks": []}', act=_capo_act,
                  critique=lambda t: json.dumps({"agree": False, "issues": ["too slow"],
                                                 "suggested_changes": ["swap rooms"], "new_information": []}))
