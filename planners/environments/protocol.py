"""The small contract between a planner and any environment it drives.

A planner only needs three things from a world: ``reset(seed)`` and ``step(actions)`` returning
observations for the agents that must decide now, and for each observation a text view (what an
LLM reads: progress, location, knowledge and the available actions as strings) plus a structured
view (a frozen dataclass scripted agents read). Bring your own world by implementing these.

Minimal example (tested in ``tests/planners/test_protocol.py``)::

    from dataclasses import dataclass
    from promptopt.planners.environments import Event, Observation, StepResult

    @dataclass(frozen=True)
    class CounterView:
        count: int
        goal: int
        def text(self) -> str:
            return f"Count {self.count}/{self.goal}."
        def actions(self) -> tuple[str, ...]:
            return ("add one", "wait")

    class CounterEnv:
        '''Agents add one to a shared counter until it reaches the goal.'''
        agents = ("A",)
        def __init__(self, goal: int = 3) -> None:
            self.goal, self.count, self.tick = goal, 0, 0
        def reset(self, seed: int) -> dict[str, Observation]:
            self.count, self.tick = 0, 0
            return {"A": Observation("A", 0, CounterView(0, self.goal))}
        def step(self, actions):
            self.tick += 1
            ok = actions.get("A") == "add one"
            self.count += ok
            event = Event(self.tick, "A", actions.get("A", ""), "finished" if ok else "failed",
                          "" if ok else "unknown action")
            done = self.count >= self.goal
            obs = {} if done else {"A": Observation("A", self.tick, CounterView(self.count, self.goal))}
            return StepResult(obs, (event,), done)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, Protocol, Sequence, TypeVar, runtime_checkable

from pydantic import PlainSerializer

from promptopt import records

__all__ = ["Environment", "Event", "Observation", "StepResult", "View", "event_log_hash"]


@runtime_checkable
class View(Protocol):
    """What one agent perceives; frozen dataclasses in practice so agents cannot mutate the world."""

    def text(self) -> str:
        """The prompt-ready description an LLM sees (without the action list)."""

    def actions(self) -> tuple[str, ...]:
        """The available actions, exactly as strings the environment parses."""


V = TypeVar("V", bound=View)


@dataclass(frozen=True)
class Observation(Generic[V]):
    """One agent's observation at ``tick``; text and actions are computed lazily from ``view``."""

    agent: str
    tick: int
    view: V

    @property
    def text(self) -> str:
        return self.view.text()

    @property
    def actions(self) -> tuple[str, ...]:
        return self.view.actions()

    def prompt(self) -> str:
        """Text view followed by the lettered action list (the CoELA-style prompt block)."""
        letters = [f"{_letter(i)}. {a}" for i, a in enumerate(self.actions)]
        return self.text + "\nAvailable actions:\n" + "\n".join(letters)


def _letter(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else f"A{i}"


@dataclass(frozen=True)
class Event(records.Record):
    """Something that happened; ``kind`` is e.g. started/finished/failed/interrupted/delivered.

    ``reason`` is a sentence an LLM can read when something failed or was interrupted.
    ``data`` holds JSON-able details (sorted key/value pairs keep the record hashable).
    """

    tick: int
    agent: str
    action: str
    kind: str
    reason: str = ""
    data: Annotated[tuple[tuple[str, Any], ...], PlainSerializer(dict)] = ()  # written as an object

    @property
    def ok(self) -> bool:
        return self.kind not in ("failed", "interrupted")

    def get(self, key: str, default: Any = None) -> Any:
        for k, v in self.data:
            if k == key:
                return v
        return default


@dataclass(frozen=True)
class StepResult:
    """Observations for the agents that must decide now, what happened meanwhile, and whether it ended."""

    observations: dict[str, Observation[Any]]
    events: tuple[Event, ...]
    done: bool
    info: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Environment(Protocol):
    """A (possibly asynchronous) multi-agent world driven by action strings."""

    agents: tuple[str, ...]

    def reset(self, seed: int) -> dict[str, Observation[Any]]:
        """Start an episode that is a pure function of ``seed``; observations for every agent."""

    def step(self, actions: Mapping[str, str]) -> StepResult:
        """Apply actions of the agents that were asked, advance time, return who must act next."""


def event_log_hash(events: Iterable[Event]) -> str:
    """sha256 of the canonical JSON of all events: equal hashes mean identical episodes."""
    payload = json.dumps(records.dump_all(events, Event), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def recent_lines(messages: Sequence[Any], last_event: Any, unit: str) -> list[str]:
    """The end of a text view, shared by the worlds: the last five messages and how the agent's
    last action went (``unit`` is "tick" or "step")."""
    lines = [f"[{unit} {m.tick}] {m.sender} said: {m.text}" for m in messages[-5:]]
    if last_event is not None:
        reason = f" ({last_event.reason})" if last_event.reason else ""
        lines.append(f"Last action: {last_event.action} -> {last_event.kind}{reason}.")
    return lines
