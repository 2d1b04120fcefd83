"""The transport world (TDW-MAT-like): find N targets in a house and carry them to the bed.

Asynchronous and event-driven: every action is a list of timed phases (door hops, then the work);
the simulator jumps to the earliest phase due, applies it, and only asks agents that became idle
for a new action. Agents see what they saw or were told; the partner only when in the same room.
All randomness comes from ``random.Random(seed)``, so an episode is a pure function of its seed and
the actions taken.
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

__all__ = [
    "AGENT_NAMES",
    "CONTAINER_NAMES",
    "TARGET_NAMES",
    "Message",
    "ObjectView",
    "PartnerView",
    "TransportConfig",
    "TransportEnv",
    "TransportView",
]

AGENT_NAMES = ("Alice", "Bob", "Charlie", "David")
TARGET_NAMES = {
    "food": ("apple", "banana", "orange", "bread", "burger", "lemon", "loaf", "peach", "pear", "croissant"),
    "stuff": ("ipod", "pen", "lighter", "purse", "calculator", "iphone", "mouse", "key", "pencil", "wallet"),
}
CONTAINER_NAMES = {"food": ("bowl", "plate", "tea tray"), "stuff": ("basket", "shopping bag", "wicker basket")}
CONTAINER_CAPACITY = 3
BED_ROOM = "Bedroom"
COMM_POLICIES = ("free", "tdw", "meeting")
TRANSPORT_ACTION = "transport objects I'm holding to the bed"


@dataclass(frozen=True)
class TransportConfig:
    """One task family; with a seed it fixes an episode. ``layout_seed`` pins the floor plan."""

    task_kind: str = "food"
    containers: str = "enough"
    n_targets: int = 10
    horizon: int = 3000
    n_agents: int = 2
    comm: str = "free"
    layout_seed: int | None = None
    omniscient: bool = False

    def __post_init__(self) -> None:
        if self.task_kind not in TARGET_NAMES:
            raise ValueError(f"task_kind must be one of {sorted(TARGET_NAMES)}, got {self.task_kind!r}")
        if self.containers not in ("enough", "rare", "none"):
            raise ValueError(f"containers must be 'enough', 'rare' or 'none', got {self.containers!r}")
        if self.comm not in COMM_POLICIES:
            raise ValueError(f"comm must be one of {COMM_POLICIES}, got {self.comm!r}")
        if not 1 <= self.n_agents <= len(AGENT_NAMES):
            raise ValueError(f"n_agents must be 1..{len(AGENT_NAMES)}, got {self.n_agents}")
        if self.n_targets < 1 or self.horizon < 1:
            raise ValueError("n_targets and horizon must be positive")

    @property
    def n_containers(self) -> int:
        per = {"enough": 2, "rare": 5}.get(self.containers)
        return 0 if per is None else max(1, self.n_targets // per)


@dataclass(frozen=True)
class ObjectView:
    """What an agent believes about one object (as of ``seen_tick``; beliefs go stale)."""

    id: int
    name: str
    kind: str
    room: str | None
    holder: str | None
    inside: int | None
    seen_tick: int
    contents: tuple[int, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.name} ({self.id})"


@dataclass(frozen=True)
class PartnerView:
    """A teammate as last seen; ``here`` means the view is current."""

    agent: str
    room: str | None
    holding: tuple[str, ...]
    seen_tick: int | None
    here: bool


@dataclass(frozen=True)
class Message:
    tick: int
    sender: str
    text: str


@dataclass(frozen=True)
class TransportView:
    """Structured observation for scripted agents; ``text()``/``actions()`` are the LLM's view."""

    agent: str
    tick: int
    horizon: int
    house: House
    room: str
    hands: tuple[int | None, int | None]
    objects: tuple[ObjectView, ...]
    explored: frozenset[str]
    bed_room: str | None
    delivered: tuple[int, ...]
    n_targets: int
    partners: tuple[PartnerView, ...]
    messages: tuple[Message, ...]
    last_event: Event | None
    task_kind: str

    def obj(self, oid: int | None) -> ObjectView | None:
        for o in self.objects:
            if o.id == oid:
                return o
        return None

    @property
    def held(self) -> tuple[ObjectView, ...]:
        return tuple(o for o in self.objects if o.holder == self.agent and o.inside is None)

    @property
    def free_hands(self) -> int:
        return sum(h is None for h in self.hands)

    def available(self, kind: str) -> tuple[ObjectView, ...]:
        """Objects of ``kind`` believed lying somewhere (not held, not delivered)."""
        return tuple(o for o in self.objects if o.kind == kind and o.room is not None and o.holder is None)

    def _hand_text(self, oid: int | None) -> str:
        o = self.obj(oid)
        if o is None:
            return "nothing"
        if o.kind == "container":
            inner = ", ".join(self.obj(i).label for i in o.contents if self.obj(i)) or "empty"
            return f"{o.label} containing [{inner}]"
        return o.label

    def text(self) -> str:
        lines = [
            (f"Goal: transport {self.n_targets} target objects to the bed. "
             f"Tick {self.tick}/{self.horizon}; {len(self.delivered)}/{self.n_targets} delivered."),
            (f"I am {self.agent}, in the {self.room}. Left hand: {self._hand_text(self.hands[0])}; "
             f"right hand: {self._hand_text(self.hands[1])}."),
            "Rooms explored: " + (", ".join(sorted(self.explored)) or "none")
            + ". Not explored: " + (", ".join(r for r in self.house.rooms if r not in self.explored) or "none") + ".",
            f"The bed is in the {self.bed_room}." if self.bed_room else "I have not found the bed yet.",
        ]
        for kind in ("target", "container"):
            seen = [f"{o.label} in the {o.room} (seen at tick {o.seen_tick})" for o in self.available(kind)]
            lines.append(f"Known {kind}s lying around: " + ("; ".join(seen) or "none") + ".")
        for p in self.partners:
            held = ", ".join(p.holding) or "nothing"
            if p.here:
                lines.append(f"{p.agent} is here with me, holding {held}.")
            elif p.room is None:
                lines.append(f"I have not seen {p.agent} yet.")
            else:
                lines.append(f"{p.agent}: last seen in the {p.room} holding {held} at tick {p.seen_tick}.")
        lines += recent_lines(self.messages, self.last_event, "tick")
        return "\n".join(lines)

    def step_phrases(self) -> tuple[str, ...]:
        """Templates of every kind of action, for plans written before the objects are known."""
        return ("go grasp target object <name> (<id>)", "go grasp container <name> (<id>)",
                "put <target> (<id>) into the container <container> (<id>)", TRANSPORT_ACTION)

    def actions(self) -> tuple[str, ...]:
        acts = [f"go to {r}" for r in self.house.rooms if r != self.room]
        acts.append(f"explore current room {self.room}")
        if self.free_hands:
            acts += [f"go grasp target object {o.label}" for o in self.available("target")]
            acts += [f"go grasp container {o.label}" for o in self.available("container")]
        held = [self.obj(h) for h in self.hands if h is not None]
        for c in held:
            if c is not None and c.kind == "container" and len(c.contents) < CONTAINER_CAPACITY:
                acts += [f"put {t.label} into the container {c.label}" for t in held if t is not None and t.kind == "target"]
        if held and self.bed_room:
            acts.append(TRANSPORT_ACTION)
        acts += ["send a message: <text>", "wait"]
        return tuple(acts)


# ---------------------------------------------------------------- internal mutable state
@dataclass
class _Obj:
    id: int
    name: str
    kind: str
    room: str | None
    in_view: bool
    holder: str | None = None
    inside: int | None = None
    delivered: bool = False
    contents: list[int] = field(default_factory=list)


@dataclass
class _Belief:
    room: str | None
    holder: str | None
    inside: int | None
    tick: int
    contents: tuple[int, ...] = ()


@dataclass
class _Agent:
    name: str
    room: str
    hands: list[int | None] = field(default_factory=lambda: [None, None])
    phases: list[tuple[int, str, Any]] = field(default_factory=list)
    action: str = ""
    interruptible: bool = False
    knowledge: dict[int, _Belief] = field(default_factory=dict)
    explored: set[str] = field(default_factory=set)
    bed_known: bool = False
    partners: dict[str, PartnerView] = field(default_factory=dict)
    last_event: Event | None = None
    last_msg_tick: int = -1
    pending_delay: int = 0


_PATTERNS = (
    ("goto", re.compile(r"go to (?:the )?(?P<room>[a-z]+)", re.IGNORECASE)),
    ("explore", re.compile(r"explore current room (?:the )?(?P<room>[a-z]+)", re.IGNORECASE)),
    ("grasp_target", re.compile(r"go grasp target object (?P<name>.+?) ?\((?P<id>\d+)\)", re.IGNORECASE)),
    ("grasp_container", re.compile(r"go grasp container (?P<name>.+?) ?\((?P<id>\d+)\)", re.IGNORECASE)),
    ("put", re.compile(r"put (?P<name>.+?) ?\((?P<id>\d+)\) into the container (?P<cname>.+?) ?\((?P<cid>\d+)\)", re.IGNORECASE)),
    ("transport", re.compile(r"transport objects i['\u2019]?m holding to the bed", re.IGNORECASE)),
    ("message", re.compile(r"send a message: ?(?P<text>.*)", re.IGNORECASE | re.DOTALL)),
    ("wait", re.compile(r"wait", re.IGNORECASE)),
)
_MENTION = re.compile(r"([a-z][a-z ]*?) ?\((\d+)\)(?:,? (?:is |are )?(?:in|at) (?:the )?([A-Za-z]+))?", re.IGNORECASE)


class _Invalid(Exception):
    """An action that cannot start; the message is shown to the agent."""


class TransportEnv(EventClock):
    """The transport world. ``reset(seed)``, then ``step({agent: action})`` until ``done``."""

    def __init__(self, config: TransportConfig | None = None) -> None:
        self.config = config or TransportConfig()
        self.agents: tuple[str, ...] = AGENT_NAMES[: self.config.n_agents]
        self._reset_called = False

    # ------------------------------------------------------------ public API
    def reset(self, seed: int) -> dict[str, Observation[TransportView]]:
        """Build the house and hide the objects; everything follows from ``seed``."""
        cfg = self.config
        rng = random.Random(seed)
        layout_rng = random.Random(cfg.layout_seed) if cfg.layout_seed is not None else rng
        self.seed = seed
        self.house = make_house(layout_rng)
        self.tick = 0
        self.done = False
        self.events: list[Event] = []
        self.messages: list[Message] = []
        self.delivered: list[tuple[int, int, str]] = []  # (tick, object id, agent)
        self.trips: list[int] = []
        self.explore_counts: dict[str, int] = {r: 0 for r in self.house.rooms}
        self.grasp_conflicts = 0
        self.idle_ticks: dict[str, int] = {a: 0 for a in self.agents}
        self.message_chars = 0
        ids = rng.sample(range(1, 100), cfg.n_targets + cfg.n_containers)
        other_rooms = [r for r in self.house.rooms if r != BED_ROOM]
        self.objects: dict[int, _Obj] = {}
        names = TARGET_NAMES[cfg.task_kind]
        t_rooms = rng.sample(other_rooms, min(len(other_rooms), rng.randint(*tuning.TARGET_ROOMS)))
        for oid in ids[: cfg.n_targets]:
            self.objects[oid] = _Obj(oid, rng.choice(names), "target", rng.choice(t_rooms),
                                     rng.random() < tuning.P_IN_VIEW)
        n_rooms = 1 if cfg.containers == "rare" else rng.randint(1, 2)
        # containers lie in rooms chosen for the targets (the bowls where the food is)
        c_rooms = rng.sample(t_rooms, min(n_rooms, len(t_rooms)))
        for oid in ids[cfg.n_targets:]:
            self.objects[oid] = _Obj(oid, rng.choice(CONTAINER_NAMES[cfg.task_kind]), "container",
                                     rng.choice(c_rooms), rng.random() < tuning.P_CONTAINER_IN_VIEW)
        start = rng.choice(self.house.rooms)
        self._agents = {a: _Agent(a, start if tuning.SAME_START_ROOM else rng.choice(self.house.rooms))
                        for a in self.agents}
        for ag in self._agents.values():
            self._see_on_entry(ag)
        self._reset_called = True
        return {a: self._observe(a) for a in self.agents}

    def step(self, actions: Mapping[str, str]) -> StepResult:
        """Start the actions of idle agents (missing ones ``wait``), then advance time until some
        agent is idle again or the episode ends. Actions for busy or unknown agents fail harmlessly."""
        if not self._reset_called:
            raise RuntimeError("call reset(seed) before step()")
        start = len(self.events)
        if not self.done:
            for name, raw in actions.items():
                if name not in self._agents:
                    self._log(Event(self.tick, str(name), str(raw), "failed",
                                    f"there is no agent {name!r}; agents are {', '.join(self.agents)}"))
                elif self._agents[name].phases:
                    ag = self._agents[name]
                    self._log(Event(self.tick, name, str(raw), "failed",
                                    f"{name} is busy with '{ag.action}' until tick {ag.phases[-1][0]}"))
            for name in self.agents:
                if not self._agents[name].phases:
                    self._start(self._agents[name], actions.get(name, "wait"))
            self._advance()
        obs = {} if self.done else {a: self._observe(a) for a in self.agents if not self._agents[a].phases}
        return StepResult(obs, tuple(self.events[start:]), self.done,
                          {"tick": self.tick, "delivered": len(self.delivered)})

    def discussion(self, participants: tuple[str, ...] | list[str], rounds: int = 1, characters: int = 0) -> int:
        """Charge a planning discussion to its participants under the communication policy;
        returns ticks each participant is blocked (``free``: 0; ``tdw``: 1 + characters/500 per
        round; ``meeting``: a fixed cost per round). Busy agents finish later; idle ones start later."""
        cost = self._comm_cost(characters) * rounds if self.config.comm == "tdw" else (
            tuning.MEETING_TICKS_PER_ROUND * rounds if self.config.comm == "meeting" else 0)
        for name in participants:
            if name not in self._agents:
                raise ValueError(f"unknown agent {name!r}; agents are {', '.join(self.agents)}")
            if cost:
                ag = self._agents[name]
                if ag.phases:
                    ag.phases = [(t + cost, k, a) for t, k, a in ag.phases]
                else:
                    ag.pending_delay += cost
                self.idle_ticks[name] += cost
        if cost or rounds:
            self._log(Event(self.tick, ",".join(participants), "discussion", "finished", "",
                            (("rounds", rounds), ("ticks", cost))))
        return cost

    def event_hash(self) -> str:
        return event_log_hash(self.events)

    @property
    def n_delivered(self) -> int:
        return len(self.delivered)

    def stats(self) -> dict[str, Any]:
        """Raw diagnostics of the episode so far (the metrics module turns them into numbers)."""
        return {
            "delivered_ticks": [t for t, _, _ in self.delivered],
            "n_targets": self.config.n_targets,
            "horizon": self.config.horizon,
            "tick": self.tick,
            "rooms_explored_twice": sum(max(0, c - 1) for c in self.explore_counts.values()),
            "grasp_conflicts": self.grasp_conflicts,
            "idle_ticks": sum(self.idle_ticks.values()),
            "bed_trips": list(self.trips),
            "messages": len(self.messages),
            "message_chars": self.message_chars,
        }

    # ------------------------------------------------------------ starting actions
    def _log(self, event: Event) -> Event:
        self.events.append(event)
        return event

    def _fail(self, ag: _Agent, action: str, reason: str, ticks: int = tuning.INVALID_ACTION_TICKS) -> None:
        ag.last_event = self._log(Event(self.tick, ag.name, action, "failed", reason))
        ag.action = action
        ag.interruptible = False
        ag.phases = [(self.tick + ag.pending_delay + ticks, "pause", None)]
        ag.pending_delay = 0
        self.idle_ticks[ag.name] += ticks

    def _room(self, text: str) -> str:
        for r in self.house.rooms:
            if r.lower() == text.strip().lower():
                return r
        raise _Invalid(f"there is no room called '{text.strip()}'; rooms are {', '.join(self.house.rooms)}")

    def _known(self, ag: _Agent, oid: int, name: str, kind: str) -> tuple[_Obj, _Belief]:
        self._sync(ag)
        belief = ag.knowledge.get(oid)
        obj = self.objects.get(oid)
        if belief is None or obj is None:
            raise _Invalid(f"you do not know any object with id {oid}")
        if obj.kind != kind:
            raise _Invalid(f"{obj.name} ({oid}) is a {obj.kind}, not a {kind}")
        if obj.name.lower() != name.strip().lower():
            raise _Invalid(f"object {oid} is a {obj.name}, not a {name.strip()}")
        return obj, belief

    def _start(self, ag: _Agent, raw: Any) -> None:
        if not isinstance(raw, str):
            return self._fail(ag, repr(raw), "an action must be a string")
        action = raw.strip()
        for kind, pattern in _PATTERNS:
            m = pattern.fullmatch(action)
            if m:
                break
        else:
            return self._fail(ag, action, "not an action; choose one of the available actions, e.g. "
                              "'go to <room>', 'explore current room <room>' or 'wait'")
        try:
            phases, interruptible = self._plan(ag, kind, m)
        except _Invalid as err:
            return self._fail(ag, action, str(err))
        base = self.tick + ag.pending_delay
        ag.pending_delay = 0
        ag.action, ag.interruptible = action, interruptible
        ag.phases = [(base + t, k, a) for t, k, a in phases]
        self._log(Event(self.tick, ag.name, action, "started", "", (("until", ag.phases[-1][0]),) if ag.phases else ()))
        if not ag.phases:  # instantaneous (a free message): the agent decides again at this tick
            ag.last_event = self._log(Event(self.tick, ag.name, action, "finished"))

    def _walk(self, ag: _Agent, dest: str) -> tuple[list[tuple[int, str, Any]], int]:
        return self.house.hops(ag.room, dest)

    def _plan(self, ag: _Agent, kind: str, m: re.Match) -> tuple[list[tuple[int, str, Any]], bool]:
        """Validate against what the agent knows and holds; return its timed phases."""
        if kind == "goto":
            room = self._room(m["room"])
            if room == ag.room:
                raise _Invalid(f"you are already in the {room}")
            return self._walk(ag, room)[0], True
        if kind == "explore":
            room = self._room(m["room"])
            if room != ag.room:
                raise _Invalid(f"you are in the {ag.room}, not the {room}; go there first")
            return [(tuning.EXPLORE_TICKS, "explore", room)], False
        if kind in ("grasp_target", "grasp_container"):
            oid = int(m["id"])
            obj, belief = self._known(ag, oid, m["name"], "target" if kind == "grasp_target" else "container")
            if oid in ag.hands or belief.holder == ag.name:
                raise _Invalid(f"you already hold {obj.name} ({oid})")
            if None not in ag.hands:
                raise _Invalid("both your hands are full; put something into a container or transport to the bed")
            if belief.room is None:
                where = f"held by {belief.holder}" if belief.holder else "gone"
                raise _Invalid(f"{obj.name} ({oid}) was last seen {where}; you do not know where it is")
            phases, t = self._walk(ag, belief.room)
            return phases + [(t + tuning.GRASP_TICKS, "grasp", oid)], False
        if kind == "put":
            oid, cid = int(m["id"]), int(m["cid"])
            obj, _ = self._known(ag, oid, m["name"], "target")
            con, _ = self._known(ag, cid, m["cname"], "container")
            if oid not in ag.hands:
                raise _Invalid(f"you are not holding {obj.name} ({oid})")
            if cid not in ag.hands:
                raise _Invalid(f"you are not holding the container {con.name} ({cid})")
            if len(con.contents) >= CONTAINER_CAPACITY:
                raise _Invalid(f"{con.name} ({cid}) is full ({CONTAINER_CAPACITY} objects)")
            return [(tuning.PUT_TICKS, "put", (oid, cid))], False
        if kind == "transport":
            if all(h is None for h in ag.hands):
                raise _Invalid("you are holding nothing to transport")
            if not ag.bed_known and not self.config.omniscient:
                raise _Invalid("you have not found the bed yet; it is in a room you have not entered")
            phases, t = self._walk(ag, BED_ROOM)
            return phases + [(t + tuning.DROP_TICKS, "drop", None)], False
        if kind == "message":
            text = m["text"].strip()
            if not text:
                raise _Invalid("the message is empty")
            if ag.last_msg_tick == self.tick:
                raise _Invalid("you already sent a message at this tick; act before talking again")
            self._send(ag, text)
            cost = self._comm_cost(len(text)) if self.config.comm == "tdw" else 0
            return ([(cost, "talk", None)] if cost else []), False
        return [(tuning.WAIT_TICKS, "wait", None)], False

    @staticmethod
    def _comm_cost(chars: int) -> int:
        return 1 + chars // tuning.TDW_CHARS_PER_TICK

    def _send(self, ag: _Agent, text: str) -> None:
        ag.last_msg_tick = self.tick
        self.messages.append(Message(self.tick, ag.name, text))
        self.message_chars += len(text)
        for other in self._agents.values():  # being told: "<name> (<id>) in <room>" teaches the object
            if other is ag:
                continue
            for name, sid, room in _MENTION.findall(text):
                obj = self.objects.get(int(sid))
                if obj is None or not name.strip().lower().endswith(obj.name.lower()) or obj.id in other.knowledge:
                    continue
                rooms = {r.lower(): r for r in self.house.rooms}
                other.knowledge[obj.id] = _Belief(rooms.get(room.lower()) if room else None, None, None, self.tick)

    # ------------------------------------------------------------ advancing time (see .clock)
    def _check_done(self) -> None:
        if len(self.delivered) >= self.config.n_targets or self.tick >= self.config.horizon:
            self.done = True

    def _finish(self, ag: _Agent, kind: str = "finished", reason: str = "", data: tuple = ()) -> None:
        ag.last_event = self._log(Event(self.tick, ag.name, ag.action, kind, reason, data))
        ag.phases = []

    def _apply(self, ag: _Agent, kind: str, arg: Any) -> None:
        last = not ag.phases
        if kind == "hop":
            ag.room = arg
            new = self._see_on_entry(ag)
            if last:
                self._finish(ag, data=(("room", arg),))
            elif new and ag.interruptible:
                labels = ", ".join(f"{self.objects[i].name} ({i})" for i in new)
                self._finish(ag, "interrupted", f"stopped in the {arg}: saw new objects {labels}", (("room", arg),))
        elif kind == "explore":
            self.explore_counts[arg] += 1
            ag.explored.add(arg)
            found = self._see_room(ag, everything=True)
            self._finish(ag, data=(("found", sorted(found)),))
        elif kind == "grasp":
            self._grasp(ag, arg)
        elif kind == "put":
            oid, cid = arg
            ag.hands[ag.hands.index(oid)] = None
            self.objects[oid].inside = cid
            self.objects[cid].contents.append(oid)
            self._learn(ag, oid)
            self._learn(ag, cid)
            self._finish(ag)
        elif kind == "drop":
            self._drop(ag)
        elif kind == "wait":
            self.idle_ticks[ag.name] += tuning.WAIT_TICKS
            self._finish(ag)
        elif kind == "talk":
            self._finish(ag)
        elif kind == "missing":
            self._finish(ag, "failed", arg)
        # "pause" (after a failed start): the agent just becomes idle again; the failure was logged

    def _grasp(self, ag: _Agent, oid: int) -> None:
        obj = self.objects[oid]
        if obj.room != ag.room or obj.holder is not None or obj.delivered:
            taken_by = obj.holder or (next((a for _, i, a in self.delivered if i == oid), None))
            if taken_by and taken_by != ag.name:
                self.grasp_conflicts += 1
                reason = f"{obj.name} ({oid}) is not here: {taken_by} took it first"
            else:
                reason = f"{obj.name} ({oid}) is not in the {ag.room}"
            seen_holder = obj.holder if obj.holder and self._here(obj.holder, ag) else None
            ag.knowledge[oid] = _Belief(None, seen_holder, None, self.tick)
            if tuning.GRASP_FAIL_TICKS:  # searching for it before giving up
                ag.phases = [(self.tick + tuning.GRASP_FAIL_TICKS, "missing", reason)]
                return
            self._finish(ag, "failed", reason)
            return
        ag.hands[ag.hands.index(None)] = oid
        obj.room, obj.holder = None, ag.name
        self._learn(ag, oid)
        self._see_room(ag, everything=False)
        self._finish(ag, data=(("object", oid),))

    def _drop(self, ag: _Agent) -> None:
        count = 0
        for i, oid in enumerate(ag.hands):
            if oid is None:
                continue
            obj = self.objects[oid]
            batch = [oid] if obj.kind == "target" else list(obj.contents)
            for tid in batch:
                t = self.objects[tid]
                t.delivered, t.holder, t.inside, t.room = True, None, None, None
                self.delivered.append((self.tick, tid, ag.name))
                self._log(Event(self.tick, ag.name, ag.action, "delivered", "", (("object", tid),)))
                count += 1
            if obj.kind == "container":  # consumed on delivery
                obj.holder, obj.delivered, obj.contents = None, True, []
            ag.hands[i] = None
            ag.knowledge.pop(oid, None)
        for tid in [i for i, b in ag.knowledge.items() if self.objects[i].delivered]:
            ag.knowledge.pop(tid, None)
        self.trips.append(count)
        self._finish(ag, data=(("delivered", count),))

    # ------------------------------------------------------------ perception
    def _here(self, other: str, ag: _Agent) -> bool:
        return self._agents[other].room == ag.room

    def _learn(self, ag: _Agent, oid: int) -> None:
        o = self.objects[oid]
        ag.knowledge[oid] = _Belief(o.room, o.holder, o.inside, self.tick, tuple(o.contents))

    def _see_room(self, ag: _Agent, everything: bool) -> list[int]:
        """Look around the current room; returns ids seen for the first time."""
        new = []
        for o in self.objects.values():
            if o.delivered:
                continue
            if o.room == ag.room and o.holder is None and (everything or o.in_view):
                if o.id not in ag.knowledge:
                    new.append(o.id)
                self._learn(ag, o.id)
            elif o.id in ag.knowledge and ag.knowledge[o.id].room == ag.room and (everything or o.in_view):
                ag.knowledge[o.id] = _Belief(None, None, None, self.tick)  # gone from where it was
        for other in self._agents.values():
            if other is not ag and other.room == ag.room:
                for a, b in ((ag, other), (other, ag)):
                    b_items = tuple(self._holding_labels(b))
                    a.partners[b.name] = PartnerView(b.name, b.room, b_items, self.tick, True)
                    for oid in b.hands:
                        if oid is not None:
                            self._learn(a, oid)
        return new

    def _see_on_entry(self, ag: _Agent) -> list[int]:
        if ag.room == BED_ROOM:
            ag.bed_known = True
        return self._see_room(ag, everything=False)

    def _holding_labels(self, ag: _Agent) -> list[str]:
        out = []
        for oid in ag.hands:
            if oid is None:
                continue
            o = self.objects[oid]
            inner = ", ".join(f"{self.objects[i].name} ({i})" for i in o.contents)
            out.append(f"{o.name} ({oid})" + (f" with [{inner}]" if inner else ""))
        return out

    def _sync(self, ag: _Agent) -> None:
        if self.config.omniscient:
            ag.bed_known = True
            for oid, o in self.objects.items():
                if not o.delivered:
                    self._learn(ag, oid)

    def _observe(self, name: str) -> Observation[TransportView]:
        ag = self._agents[name]
        self._sync(ag)
        delivered = {i for _, i, _ in self.delivered}
        objects = tuple(
            ObjectView(oid, self.objects[oid].name, self.objects[oid].kind, b.room, b.holder, b.inside, b.tick,
                       b.contents)
            for oid, b in sorted(ag.knowledge.items()) if oid not in delivered)
        partners = []
        for other in self.agents:
            if other == name:
                continue
            o = self._agents[other]
            if o.room == ag.room or self.config.omniscient:
                partners.append(PartnerView(other, o.room, tuple(self._holding_labels(o)), self.tick, o.room == ag.room))
            else:
                seen = ag.partners.get(other)
                partners.append(PartnerView(other, seen.room if seen else None, seen.holding if seen else (),
                                            seen.seen_tick if seen else None, False))
        view = TransportView(
            agent=name, tick=self.tick, horizon=self.config.horizon, house=self.house, room=ag.room,
            hands=(ag.hands[0], ag.hands[1]), objects=objects, explored=frozenset(ag.explored),
            bed_room=BED_ROOM if (ag.bed_known or self.config.omniscient) else None,
            delivered=tuple(i for _, i, _ in self.delivered), n_targets=self.config.n_targets,
            partners=tuple(partners), messages=tuple(self.messages), last_event=ag.last_event,
            task_kind=self.config.task_kind)
        return Observation(name, self.tick, view)
