"""Progress-adaptive planning: notice progress, and decide when and by whom the plan is adapted.

Progress events: a new target seen, a new container seen, the goal location found (first time for
the whole team: the agent that saw it made the progress), a subtask done, a subtask infeasible
(reported by the executor). Adaptations are debounced (a minimum number of ticks between two) and
capped per episode; events arriving in between are merged into the next adaptation. The designer
is the agent behind the earliest pending event (ties: lowest agent index).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from promptopt import records
from promptopt.planners.environments import Observation

__all__ = ["AdaptationSchedule", "ProgressEvent", "ProgressMonitor"]

KINDS = ("new target", "new container", "goal found", "subtask done", "subtask infeasible")


@dataclass(frozen=True)
class ProgressEvent(records.Record):
    tick: int
    agent: str
    kind: str
    detail: str

    def line(self) -> str:
        return f"tick {self.tick}: {self.agent}: {self.kind}: {self.detail}"


class ProgressMonitor:
    """Finds discoveries in agents' structured views; objects already known to some teammate are
    not news. Transport views list ``objects`` (targets, containers) and the ``bed_room``;
    household views list ``items`` and ``goals``: an item a goal needs is a new target, and the
    first sighting of a goal's receptacle is the goal found."""

    def __init__(self) -> None:
        self.known: set[Any] = set()
        self.goal_known = False
        self.receptacles_known: set[int] = set()

    def prime(self, observations: Sequence[Observation]) -> None:
        """What the team knows when it plans: not progress."""
        for obs in observations:
            self._scan(obs)

    def observe(self, obs: Observation) -> list[ProgressEvent]:
        found, goals = self._scan(obs)
        events = []
        for kind in sorted(found):
            events.append(ProgressEvent(obs.tick, obs.agent, f"new {kind}", ", ".join(found[kind])))
        for goal in goals:
            events.append(ProgressEvent(obs.tick, obs.agent, "goal found", goal))
        return events

    def _scan(self, obs: Observation) -> tuple[dict[str, list[str]], list[str]]:
        view = obs.view
        if hasattr(view, "goals") and hasattr(view, "items"):
            return self._scan_household(view)
        found: dict[str, list[str]] = {}
        for o in getattr(view, "objects", ()) or ():
            if o.id in self.known:
                continue
            self.known.add(o.id)
            where = f" in the {o.room}" if getattr(o, "room", None) else ""
            found.setdefault(str(o.kind), []).append(f"{getattr(o, 'label', o.id)}{where}")
        goal = getattr(view, "bed_room", None)
        if goal and not self.goal_known:
            self.goal_known = True
            return found, [f"the goal is in the {goal}"]
        return found, []

    def _scan_household(self, view: Any) -> tuple[dict[str, list[str]], list[str]]:
        needed = {g.item for g in view.goals}
        receptacles = {g.target: g for g in view.goals}
        found: dict[str, list[str]] = {}
        goals: list[str] = []
        for o in view.items:
            if o.room is None or o.id in self.known:
                continue
            if o.kind == "item" and o.name in needed:
                self.known.add(o.id)
                found.setdefault("target", []).append(f"{o.label} in the {o.room}")
            elif o.id in receptacles and o.id not in self.receptacles_known:
                self.known.add(o.id)
                self.receptacles_known.add(o.id)
                goals.append(f"{receptacles[o.id].text()}: the {o.label} is in the {o.room}")
        return found, goals


@dataclass
class AdaptationSchedule:
    """Debounce and cap; holds pending events until an adaptation takes them."""

    team: tuple[str, ...]
    debounce_ticks: int = 200
    cap: int = 5
    pending: list[ProgressEvent] = field(default_factory=list)
    done: int = 0
    last_tick: int | None = None
    dropped: int = 0

    def add(self, events: Sequence[ProgressEvent]) -> None:
        if self.done >= self.cap:
            self.dropped += len(events)
            return
        self.pending.extend(events)

    def due(self, tick: int) -> bool:
        if not self.pending or self.done >= self.cap:
            return False
        return self.last_tick is None or tick - self.last_tick >= self.debounce_ticks

    def take(self, tick: int) -> tuple[str, tuple[ProgressEvent, ...]]:
        """The designer and the merged events of the next adaptation."""
        events = tuple(self.pending)
        first = min(e.tick for e in events)
        designer = min((e.agent for e in events if e.tick == first), key=self.team.index)
        self.pending.clear()
        self.done += 1
        self.last_tick = tick
        return designer, events
