"""Executing the plan: follow one's own subtask step by step, asking the model only when needed.

A step that names one available action runs without an LLM call: written exactly as the action,
or with words left out ("grasp orange (23)", "put apple (5) into tea tray (2)") as long as only
one action contains all of the step's words. A step that names a kind of action but an object
nobody has seen ("go grasp target object 1", a template's "<name> (<id>)") takes the first
available action of that kind: small models write such steps before any object is known, and
the kind is the part of the plan that carries meaning. Otherwise the model
picks among the lettered actions; its reply is read as an exact action string, then as a letter,
then by fuzzy match, and finally a safe default is taken; each fallback is counted by the caller.
The executor also reports subtask progress (done, infeasible) to the adaptation schedule.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from promptopt.planners.environments import Event

from .adaptation import ProgressEvent
from .metaplan import MetaPlan, Subtask

__all__ = ["MESSAGE_ACTION", "PlanExecutor", "match_step", "parse_choice", "safe_default"]

MESSAGE_ACTION = "send a message: <text>"
_MESSAGE_PREFIX = "send a message:"
_LETTERS = (  # in order: a bare letter, "answer: B", "B. ..." / "(B) ..."
    re.compile(r"^\W*\(?([A-Z]|A\d+)\)?\W*$", re.IGNORECASE),
    re.compile(r"\b(?:answer|option|action|choice)\s*(?:is|:)?\s*\(?([A-Z]|A\d+)\b", re.IGNORECASE),
    re.compile(r"^\W*\(?([A-Z]|A\d+)[.):]"),
)
FUZZY_CUTOFF = 0.6


def _norm(text: str) -> str:
    text = text.strip().strip("\"'`").rstrip(".").strip()
    return re.sub(r"\s+", " ", text).lower()


def _words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"[a-z0-9']+", text.lower())) - _FILLER


_FILLER = frozenset({"the", "a", "an", "go", "my"})


def match_step(step: str, actions: Sequence[str]) -> str | None:
    """The available action a plan step names, or None: written exactly (case and spacing aside),
    or the only action holding every word of the step, or else the first action holding every
    word once ids and placeholders are left out (at least two words). A step that is itself a message
    ("send a message: ...") matches when messaging is available."""
    want = _norm(step)
    if want.startswith(_MESSAGE_PREFIX):
        said = want[len(_MESSAGE_PREFIX):].strip()
        return step.strip() if MESSAGE_ACTION in actions and said and said != "<text>" else None
    worded = [(a, _words(a)) for a in actions if a != MESSAGE_ACTION]
    for a, _ in worded:
        if _norm(a) == want:
            return a
    words = _words(step)
    holding = [a for a, have in worded if words and words <= have]
    if holding:
        return holding[0] if len(holding) == 1 else None  # several: ambiguous
    kind = _words(re.sub(r"<[^>]*>|\(\s*\d+\s*\)|\b\d+\b", " ", step))  # without ids and placeholders
    return next((a for a, have in worded if kind <= have), None) if len(kind) >= 2 else None


def already_there(step: str, actions: Sequence[str]) -> bool:
    """``go to R`` while standing in R: the step is already done (the world offers exploring R)."""
    m = re.fullmatch(r"go to (?:the )?([a-z]+)", _norm(step))
    return bool(m) and any(_norm(a) == f"explore current room {m.group(1)}" for a in actions)


def safe_default(actions: Sequence[str]) -> str:
    """An action that cannot hurt: ``wait`` where the world has it."""
    return "wait" if "wait" in actions else actions[-1]


def _letter_index(label: str) -> int | None:
    label = label.upper()
    if len(label) == 1 and label.isalpha():
        return ord(label) - ord("A")
    m = re.fullmatch(r"A(\d+)", label)
    return int(m.group(1)) if m else None


def parse_choice(reply: str, actions: Sequence[str]) -> tuple[str, str]:
    """(action, method) with method ``exact``, ``letter``, ``fuzzy`` or ``default``."""
    text = reply.strip()
    first = text.splitlines()[0].strip() if text else ""
    stripped = re.sub(r"^\(?[A-Z]{1,2}\d*[.)]\s+", "", first)  # "B. go to Kitchen"
    for candidate in (first, stripped):
        for a in actions:
            if _norm(candidate) == _norm(a):
                return a, "exact"
    lowered = text.lower()
    inside = [a for a in actions if a != MESSAGE_ACTION and a.lower() in lowered]
    if inside:
        return max(inside, key=len), "exact"
    if lowered.startswith(_MESSAGE_PREFIX) and MESSAGE_ACTION in actions:
        return MESSAGE_ACTION, "exact"
    for pattern in _LETTERS:
        m = pattern.search(first)
        i = _letter_index(m.group(1)) if m else None
        if i is not None and 0 <= i < len(actions):
            return actions[i], "letter"
    close = difflib.get_close_matches(_norm(stripped), [_norm(a) for a in actions], n=1, cutoff=FUZZY_CUTOFF)
    if close:
        return next(a for a in actions if _norm(a) == close[0]), "fuzzy"
    return safe_default(actions), "default"


@dataclass
class _Cursor:
    subtask: str
    steps: tuple[str, ...]
    index: int = 0
    patience: int = 0


@dataclass
class PlanExecutor:
    """One agent's position in its own part of the plan."""

    agent: str
    step_patience: int = 3
    cursors: dict[str, _Cursor] = field(default_factory=dict)
    pending: tuple[str, tuple[str, ...], int] | None = None  # (subtask, its steps, step index) sent as an action

    def _cursor(self, s: Subtask) -> _Cursor:
        c = self.cursors.get(s.id)
        if c is None or c.steps != s.steps:
            c = self.cursors[s.id] = _Cursor(s.id, s.steps)
        return c

    def settle(self, plan: MetaPlan, events: Sequence[Event], tick: int) -> tuple[MetaPlan, list[ProgressEvent]]:
        """Read how this agent's last planned step went; advance, retry or give up the subtask."""
        pending, self.pending = self.pending, None
        mine = [e for e in events if e.agent == self.agent and e.kind in ("finished", "failed", "interrupted")]
        s = plan.get(pending[0]) if pending else None
        if s is None or not mine or s.status not in ("todo", "doing"):
            return plan, []
        c = self._cursor(s)
        if (c.steps, c.index) != pending[1:]:  # the plan was adapted meanwhile: that step is gone
            return plan, []
        last = mine[-1]
        if last.kind == "failed":
            return plan.with_status(s.id, "infeasible"), [
                ProgressEvent(tick, self.agent, "subtask infeasible", f"[{s.id}] {last.action}: {last.reason}")]
        if last.kind == "finished":
            c.index, c.patience = c.index + 1, 0
        return self._maybe_done(plan, s, c, tick)

    def _maybe_done(self, plan: MetaPlan, s: Subtask, c: _Cursor, tick: int) -> tuple[MetaPlan, list[ProgressEvent]]:
        if s.steps and c.index >= len(s.steps):
            return plan.with_status(s.id, "done"), [ProgressEvent(tick, self.agent, "subtask done", f"[{s.id}] {s.goal}")]
        return plan, []

    def next_step(self, plan: MetaPlan, actions: Sequence[str], tick: int
                  ) -> tuple[MetaPlan, Subtask | None, str | None, str | None, list[ProgressEvent]]:
        """(plan, subtask, step, action-without-LLM or None, progress). Steps already done are
        skipped; a step the model failed to serve in ``step_patience`` decisions is given up."""
        progress: list[ProgressEvent] = []
        while True:
            s = plan.current(self.agent)
            if s is None:
                return plan, None, None, None, progress
            c = self._cursor(s)
            if s.status == "todo":
                plan = plan.with_status(s.id, "doing")
                s = plan.get(s.id)
                assert s is not None
            if c.index >= len(s.steps):
                if s.steps:  # all steps done
                    plan, ev = self._maybe_done(plan, s, c, tick)
                    progress += ev
                    continue
                return plan, s, None, None, progress  # a goal without steps: the model works on it
            step = s.steps[c.index]
            if already_there(step, actions) or c.patience >= self.step_patience:
                c.index, c.patience = c.index + 1, 0
                continue
            action = match_step(step, actions)
            if action is not None:
                self.pending = (s.id, s.steps, c.index)
                return plan, s, step, action, progress
            c.patience += 1
            return plan, s, step, None, progress
