"""The household world (C-WAH-like): satisfy 3-5 ON/IN goals within 250 steps.

Same contract and engine style as the transport world, smaller: items lie in rooms or inside
receptacles; closed receptacles (fridge, dishwasher, cabinet, microwave) hide their items and must
be opened before anything is taken out or put in. The metric is steps to finish (250 on failure).
As in the transport world an agent knows what it has seen or been told ("<name> (<id>) in <room>"
in a message), and a grab that finds the item gone corrects the belief. Scripted teams for this
world are in :mod:`.household_agents`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import tuning
from .clock import EventClock
from .house import House, make_house
from .protocol import Event, Observation, StepResult, event_log_hash, recent_lines
from .transport import _MENTION, AGENT_NAMES, Message

__all__ = ["Goal", "HouseholdConfig", "HouseholdEnv", "HouseholdView", "ItemView"]

ITEMS = ("plate", "cupcake", "apple", "wineglass", "pudding", "salmon", "juice", "cutleryfork", "chips")
#: receptacle name -> (relation it accepts, starts closed)
RECEPTACLES = {
    "kitchentable": ("ON", False), "coffeetable": ("ON", False), "sofa": ("ON", False),
    "fridge": ("IN", True), "dishwasher": ("IN", True), "cabinet": ("IN", True), "microwave": ("IN", True),
}


@dataclass(frozen=True)
class HouseholdConfig:
    n_goals: int | None = None  # 3-5 from the seed when None
    horizon: int = 250
    n_agents: int = 2
    omniscient: bool = False

    def __post_init__(self) -> None:
        if self.n_goals is not None and not 1 <= self.n_goals <= 5:
            raise ValueError(f"n_goals must be 1..5, got {self.n_goals}")
        if not 1 <= self.n_agents <= len(AGENT_NAMES):
            raise ValueError(f"n_agents must be 1..{len(AGENT_NAMES)}")


@dataclass(frozen=True)
class Goal:
    """``count`` items named ``item`` must be ON/IN the receptacle ``target`` (by id)."""

    relation: str
    item: str
    target: int
    target_name: str
    count: int

    def text(self) -> str:
        return f"{self.relation}({self.item}, {self.target_name} ({self.target})) x{self.count}"


@dataclass(frozen=True)
class ItemView:
    id: int
    name: str
    kind: str  # item / receptacle
    room: str | None
    holder: str | None
    inside: int | None
    closed: bool
    seen_step: int

    @property
    def label(self) -> str:
        return f"{self.name} ({self.id})"


@dataclass(frozen=True)
class HouseholdView:
    agent: str
    tick: int
    horizon: int
    house: House
    room: str
    hands: tuple[int | None, int | None]
    items: tuple[ItemView, ...]
    explored: frozenset[str]
    goals: tuple[Goal, ...]
    satisfied: tuple[int, ...]  # per goal: how many are in place
    messages: tuple[Message, ...]
    last_event: Event | None

    def obj(self, oid: int | None) -> ItemView | None:
        return next((o for o in self.items if o.id == oid), None)

    def text(self) -> str:
        goals = "; ".join(f"{g.text()} ({s}/{g.count} done)" for g, s in zip(self.goals, self.satisfied))
        hands = ", ".join(self.obj(h).label if self.obj(h) else "nothing" for h in self.hands)
        lines = [f"Goals: {goals}. Step {self.tick}/{self.horizon}.",
                 f"I am {self.agent}, in the {self.room}, holding {hands}.",
                 "Rooms explored: " + (", ".join(sorted(self.explored)) or "none") + "."]
        for o in self.items:
            if o.holder is None and o.room is not None:
                where = f"in {self.obj(o.inside).label}" if o.inside and self.obj(o.inside) else f"in the {o.room}"
                state = " (closed)" if o.kind == "receptacle" and o.closed else ""
                lines.append(f"{o.label}{state} {where} (seen at step {o.seen_step}).")
        lines += recent_lines(self.messages, self.last_event, "step")
        return "\n".join(lines)

    def actions(self) -> tuple[str, ...]:
        acts = [f"go to {r}" for r in self.house.rooms if r != self.room]
        acts.append(f"explore current room {self.room}")
        free = any(h is None for h in self.hands)
        held = [self.obj(h) for h in self.hands if h is not None]
        for o in self.items:
            if o.room is None:
                continue
            if o.kind == "item" and o.holder is None and free:
                acts.append(f"go grab {o.label}")
            if o.kind == "receptacle":
                rel = RECEPTACLES[o.name][0]
                if o.closed:
                    acts.append(f"open {o.label}")
                for h in held:
                    if h is not None:
                        acts.append(f"put {h.label} {rel.lower()} {o.label}")
        return tuple(acts + ["send a message: <text>", "wait"])


@dataclass
class _Item:
    id: int
    name: str
    kind: str
    room: str
    inside: int | None = None
    closed: bool = False
    holder: str | None = None


@dataclass
class _HAgent:
    name: str
    room: str
    hands: list[int | None] = field(default_factory=lambda: [None, None])
    phases: list[tuple[int, str, Any]] = field(default_factory=list)
    action: str = ""
    known: dict[int, ItemView] = field(default_factory=dict)
    explored: set[str] = field(default_factory=set)
    last_event: Event | None = None
    last_msg_tick: int = -1


_H_PATTERNS = (
    ("goto", re.compile(r"go to (?:the )?(?P<room>[a-z]+)", re.IGNORECASE)),
    ("explore", re.compile(r"explore current room (?:the )?(?P<room>[a-z]+)", re.IGNORECASE)),
    ("grab", re.compile(r"go grab (?P<name>[a-z]+) ?\((?P<id>\d+)\)", re.IGNORECASE)),
    ("open", re.compile(r"open (?P<name>[a-z]+) ?\((?P<id>\d+)\)", re.IGNORECASE)),
    ("put", re.compile(r"put (?P<name>[a-z]+) ?\((?P<id>\d+)\) (?P<rel>on|in) (?P<rname>[a-z]+) ?\((?P<rid>\d+)\)", re.IGNORECASE)),
    ("message", re.compile(r"send a message: ?(?P<text>.*)", re.IGNORECASE | re.DOTALL)),
    ("wait", re.compile(r"wait", re.IGNORECASE)),
)


class _Invalid(Exception):
    pass


class HouseholdEnv(EventClock):
    """The household world; actions take whole steps, the metric is steps to finish."""

    def __init__(self, config: HouseholdConfig | None = None) -> None:
        self.config = config or HouseholdConfig()
        self.agents: tuple[str, ...] = AGENT_NAMES[: self.config.n_agents]
        self._ready = False

    def reset(self, seed: int) -> dict[str, Observation[HouseholdView]]:
        rng = random.Random(seed)
        self.house = make_house(rng, door_ticks=tuning.HOUSEHOLD_STEPS_PER_DOOR)
        self.tick, self.done, self.events, self.messages = 0, False, [], []
        self.items: dict[int, _Item] = {}
        ids = iter(rng.sample(range(1, 200), 40))
        rec_names = rng.sample(sorted(RECEPTACLES), 5)
        for name in rec_names:
            oid = next(ids)
            self.items[oid] = _Item(oid, name, "receptacle", rng.choice(self.house.rooms), closed=RECEPTACLES[name][1])
        recs = [o for o in self.items.values()]
        n_goals = self.config.n_goals or rng.randint(3, 5)
        names = rng.sample(ITEMS, n_goals)
        self.goals: list[Goal] = []
        for name in names:
            target = rng.choice(recs)
            count = rng.randint(1, 2)
            self.goals.append(Goal(RECEPTACLES[target.name][0], name, target.id, target.name, count))
            for _ in range(count + rng.randint(0, 1)):  # sometimes a spare
                oid = next(ids)
                room = rng.choice(self.house.rooms)
                closed_here = [r for r in recs if r.room == room and r.closed and r.id != target.id]
                inside = rng.choice(closed_here).id if closed_here and rng.random() < 0.4 else None
                self.items[oid] = _Item(oid, name, "item", room, inside)
        start = rng.choice(self.house.rooms)
        self._agents = {a: _HAgent(a, start) for a in self.agents}
        for ag in self._agents.values():
            self._look(ag, everything=False)
        self._ready = True
        return {a: self._observe(a) for a in self.agents}

    # --------------------------------------------------------------- stepping
    def step(self, actions: Mapping[str, str]) -> StepResult:
        if not self._ready:
            raise RuntimeError("call reset(seed) before step()")
        start = len(self.events)
        if not self.done:
            for name, raw in actions.items():
                if name not in self._agents or self._agents[name].phases:
                    self.events.append(Event(self.tick, str(name), str(raw), "failed",
                                             "unknown agent" if name not in self._agents else "busy"))
            for name in self.agents:
                ag = self._agents[name]
                if not ag.phases:
                    self._start(ag, actions.get(name, "wait"))
            self._advance()
        obs = {} if self.done else {a: self._observe(a) for a in self.agents if not self._agents[a].phases}
        return StepResult(obs, tuple(self.events[start:]), self.done, {"tick": self.tick})

    def satisfied(self) -> list[int]:
        return [min(g.count, sum(1 for o in self.items.values() if o.kind == "item" and o.name == g.item
                                 and o.inside == g.target and o.holder is None)) for g in self.goals]

    def _check_done(self) -> None:
        if all(s >= g.count for s, g in zip(self.satisfied(), self.goals)):
            self.done, self.finished_at = True, self.tick
        elif self.tick >= self.config.horizon:
            self.done = True

    def event_hash(self) -> str:
        return event_log_hash(self.events)

    def stats(self) -> dict[str, Any]:
        finished = all(s >= g.count for s, g in zip(self.satisfied(), self.goals))
        return {"steps": self.tick if finished else self.config.horizon, "finished": finished,
                "horizon": self.config.horizon, "messages": len(self.messages),
                "message_chars": sum(len(m.text) for m in self.messages)}

    def _fail(self, ag: _HAgent, action: str, reason: str) -> None:
        ag.last_event = Event(self.tick, ag.name, action, "failed", reason)
        self.events.append(ag.last_event)
        ag.action, ag.phases = action, [(self.tick + 1, "pause", None)]

    def _walk(self, ag: _HAgent, dest: str) -> tuple[list, int]:
        return self.house.hops(ag.room, dest)

    def _known(self, ag: _HAgent, oid: int, name: str) -> _Item:
        self._sync(ag)
        o = self.items.get(oid)
        if o is None or oid not in ag.known:
            raise _Invalid(f"you do not know any object with id {oid}")
        if o.name.lower() != name.lower():
            raise _Invalid(f"object {oid} is a {o.name}, not a {name}")
        if ag.known[oid].room is None and o.holder != ag.name:
            raise _Invalid(f"you do not know where {o.name} ({oid}) is")
        return o

    def _start(self, ag: _HAgent, raw: Any) -> None:
        action = raw.strip() if isinstance(raw, str) else repr(raw)
        m, kind = None, ""
        if isinstance(raw, str):
            for kind, pat in _H_PATTERNS:
                m = pat.fullmatch(action)
                if m:
                    break
        if m is None:
            return self._fail(ag, action, "not an action; choose one of the available actions")
        try:
            phases = self._plan(ag, kind, m)
        except _Invalid as err:
            return self._fail(ag, action, str(err))
        ag.action = action
        ag.phases = [(self.tick + t, k, a) for t, k, a in phases]
        self.events.append(Event(self.tick, ag.name, action, "started"))

    def _plan(self, ag: _HAgent, kind: str, m: re.Match) -> list:
        rooms = {r.lower(): r for r in self.house.rooms}
        if kind in ("goto", "explore"):
            room = rooms.get(m["room"].lower())
            if room is None:
                raise _Invalid(f"there is no room '{m['room']}'; rooms are {', '.join(self.house.rooms)}")
            if kind == "goto":
                if room == ag.room:
                    raise _Invalid(f"you are already in the {room}")
                return self._walk(ag, room)[0]
            if room != ag.room:
                raise _Invalid(f"you are in the {ag.room}, not the {room}")
            return [(tuning.HOUSEHOLD_EXPLORE_STEPS, "explore", room)]
        if kind == "grab":
            o = self._known(ag, int(m["id"]), m["name"])
            if o.kind != "item":
                raise _Invalid(f"{o.name} ({o.id}) cannot be picked up")
            if o.id in ag.hands:
                raise _Invalid(f"you already hold {o.name} ({o.id})")
            if None not in ag.hands:
                raise _Invalid("both your hands are full")
            phases, t = self._walk(ag, ag.known[o.id].room)
            return phases + [(t + 1, "grab", o.id)]
        if kind == "open":
            o = self._known(ag, int(m["id"]), m["name"])
            if o.kind != "receptacle" or not RECEPTACLES[o.name][1]:
                raise _Invalid(f"{o.name} ({o.id}) cannot be opened")
            phases, t = self._walk(ag, o.room)
            return phases + [(t + 1, "open", o.id)]
        if kind == "put":
            o = self._known(ag, int(m["id"]), m["name"])
            r = self._known(ag, int(m["rid"]), m["rname"])
            if o.id not in ag.hands:
                raise _Invalid(f"you are not holding {o.name} ({o.id})")
            if r.kind != "receptacle":
                raise _Invalid(f"{r.name} ({r.id}) is not a receptacle")
            rel = RECEPTACLES[r.name][0]
            if m["rel"].upper() != rel:
                raise _Invalid(f"things go {rel.lower()} the {r.name}, not {m['rel'].lower()} it")
            phases, t = self._walk(ag, r.room)
            return phases + [(t + 1, "put", (o.id, r.id))]
        if kind == "message":
            text = m["text"].strip()
            if not text or ag.last_msg_tick == self.tick:
                raise _Invalid("empty message" if not text else "one message per step")
            ag.last_msg_tick = self.tick
            self.messages.append(Message(self.tick, ag.name, text))
            self._tell(ag, text)
            return []
        return [(1, "wait", None)]

    def _tell(self, sender: _HAgent, text: str) -> None:
        """Being told: "<name> (<id>) in <room>" teaches the others an object they did not know,
        where the message says it is (as in the transport world; a wrong room misleads them)."""
        rooms = {r.lower(): r for r in self.house.rooms}
        for other in self._agents.values():
            if other is sender:
                continue
            for name, sid, room in _MENTION.findall(text):
                o = self.items.get(int(sid))
                if o is None or not name.strip().lower().endswith(o.name.lower()) or o.id in other.known:
                    continue
                told = sender.known.get(o.id)
                closed = told.closed if told is not None else (o.kind == "receptacle" and RECEPTACLES[o.name][1])
                other.known[o.id] = ItemView(o.id, o.name, o.kind, rooms.get(room.lower()) if room else None, None,
                                             None, closed, self.tick)

    def _apply(self, ag: _HAgent, kind: str, arg: Any) -> None:
        last = not ag.phases
        if kind == "hop":
            ag.room = arg
            self._look(ag, everything=False)
        elif kind == "explore":
            ag.explored.add(arg)
            self._look(ag, everything=True)
        elif kind in ("grab", "open", "put"):
            reason = self._act(ag, kind, arg)
            if reason:
                ag.phases = []
                ag.last_event = Event(self.tick, ag.name, ag.action, "failed", reason)
                self.events.append(ag.last_event)
                return
        if last and kind != "pause":
            ag.last_event = Event(self.tick, ag.name, ag.action, "finished")
            self.events.append(ag.last_event)

    def _act(self, ag: _HAgent, kind: str, arg: Any) -> str:
        """Apply at the finish step against the true state; return a reason on failure."""
        if kind == "grab":
            o = self.items[arg]
            container = self.items.get(o.inside) if o.inside else None
            if o.holder is not None or o.room != ag.room:
                # the agent sees it is gone: forget where it was (else it would come back for it)
                ag.known[o.id] = ItemView(o.id, o.name, o.kind, None, None, None, False, self.tick)
                return f"{o.name} ({o.id}) is not here any more"
            if container is not None and container.closed:
                return f"{o.name} ({o.id}) is inside the closed {container.name} ({container.id}); open it first"
            ag.hands[ag.hands.index(None)] = o.id
            o.holder, o.inside = ag.name, None
        elif kind == "open":
            self.items[arg].closed = False
            self._look(ag, everything=True, only_inside=arg)
        else:
            oid, rid = arg
            r = self.items[rid]
            if r.closed:
                return f"the {r.name} ({rid}) is closed; open it first"
            o = self.items[oid]
            ag.hands[ag.hands.index(oid)] = None
            o.holder, o.inside, o.room = None, rid, r.room
        for oid in [arg] if isinstance(arg, int) else list(arg):
            self._remember(ag, oid)
        return ""

    def _remember(self, ag: _HAgent, oid: int) -> None:
        o = self.items[oid]
        ag.known[oid] = ItemView(o.id, o.name, o.kind, None if o.holder else o.room, o.holder, o.inside,
                                 o.closed, self.tick)

    def _look(self, ag: _HAgent, everything: bool, only_inside: int | None = None) -> None:
        for o in self.items.values():
            if o.room != ag.room or o.holder is not None:
                continue
            container = self.items.get(o.inside) if o.inside else None
            hidden = container is not None and container.closed
            if only_inside is not None and o.inside != only_inside:
                continue
            if o.kind == "receptacle" or (not hidden and (everything or container is not None)):
                self._remember(ag, o.id)

    def _sync(self, ag: _HAgent) -> None:
        if self.config.omniscient:
            for oid in self.items:
                self._remember(ag, oid)

    def _observe(self, name: str) -> Observation[HouseholdView]:
        ag = self._agents[name]
        self._sync(ag)
        view = HouseholdView(name, self.tick, self.config.horizon, self.house, ag.room, (ag.hands[0], ag.hands[1]),
                             tuple(v for _, v in sorted(ag.known.items())), frozenset(ag.explored), tuple(self.goals),
                             tuple(self.satisfied()), tuple(self.messages), ag.last_event)
        return Observation(name, self.tick, view)
