"""Meta-plan and critique records, and the tolerant parsers that read them from model replies.

A meta-plan splits the team's goal into subtasks, each with one assigned agent and concrete
steps. Models answer in JSON most of the time and in something JSON-like or plain lines the rest;
the parsers accept all three and report which way they read a reply (``ParseMethod``), so every
fallback can be counted instead of silently hiding a model that does not follow the format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import SerializerFunctionWrapHandler, model_serializer

from promptopt import jsonio, records

__all__ = [
    "STATUSES",
    "Critique",
    "MetaPlan",
    "ParseMethod",
    "Subtask",
    "default_plan",
    "parse_critique",
    "parse_metaplan",
]

#: ``json``: a valid JSON object (prose or a code fence around it is fine); ``repaired``: JSON after fixing quotes/commas/fences; ``lines``: read from
#: plain "Agent: step; step" lines; ``default``: nothing usable, a safe default was used.
ParseMethod = Literal["json", "repaired", "lines", "default"]
STATUSES = ("todo", "doing", "done", "infeasible")
OPEN = ("todo", "doing")


@dataclass(frozen=True)
class Subtask(records.Record):
    """One part of the plan, owned by exactly one agent."""

    id: str
    agent: str
    goal: str
    steps: tuple[str, ...] = ()
    status: str = "todo"

    def line(self) -> str:
        steps = "; ".join(self.steps) if self.steps else "-"
        return f"[{self.id}] {self.agent} ({self.status}): {self.goal} | steps: {steps}"


@dataclass(frozen=True)
class MetaPlan(records.Record):
    """The team's plan; ``version`` grows by one with every accepted revision or adaptation."""

    subtasks: tuple[Subtask, ...]
    rationale: str = ""
    version: int = 0

    @model_serializer(mode="wrap")
    def _logged(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The episode records' layout: the version first."""
        data = handler(self)
        return {"version": data["version"], "rationale": data["rationale"], "subtasks": data["subtasks"]}

    def to_json(self) -> str:
        """The compact JSON a model sees (and is asked to answer in): no version."""
        data = self.to_dict()
        return json.dumps({"subtasks": data["subtasks"], "rationale": data["rationale"]},
                          ensure_ascii=False, separators=(",", ":"))

    def text(self) -> str:
        return "\n".join(s.line() for s in self.subtasks) or "(empty plan)"

    def of(self, agent: str) -> tuple[Subtask, ...]:
        return tuple(s for s in self.subtasks if s.agent == agent)

    def current(self, agent: str) -> Subtask | None:
        """The agent's first subtask that is neither done nor infeasible."""
        return next((s for s in self.of(agent) if s.status in OPEN), None)

    def get(self, subtask_id: str) -> Subtask | None:
        return next((s for s in self.subtasks if s.id == subtask_id), None)

    def with_status(self, subtask_id: str, status: str) -> MetaPlan:
        """Status changes are bookkeeping, not a new version of the plan."""
        return replace(self, subtasks=tuple(replace(s, status=status) if s.id == subtask_id else s
                                            for s in self.subtasks))

    def merge(self, update: MetaPlan) -> MetaPlan:
        """Apply an adaptation: subtasks named in ``update`` replace theirs by id or are added;
        everything else stays exactly as it was, and finished subtasks never change."""
        by_id = {s.id: s for s in update.subtasks}
        kept = []
        for s in self.subtasks:
            new = by_id.pop(s.id, None)
            kept.append(s if new is None or s.status == "done" else new)
        rationale = update.rationale or self.rationale
        return MetaPlan(tuple(kept) + tuple(by_id.values()), rationale, self.version + 1)


def default_plan(agents: Sequence[str], version: int = 0) -> MetaPlan:
    """What the team does without a usable plan: everyone explores and delivers on their own."""
    return MetaPlan(tuple(Subtask(f"s{i + 1}", a, "explore rooms, collect targets and deliver them")
                          for i, a in enumerate(agents)), "no usable plan was given", version)


@dataclass(frozen=True)
class Critique(records.Record):
    """An evaluator's answer to a plan."""

    agree: bool
    issues: tuple[str, ...] = ()
    suggested_changes: tuple[str, ...] = ()
    new_information: tuple[str, ...] = ()


@dataclass(frozen=True)
class Parsed:
    """A parsed value and how it was read."""

    value: Any
    method: ParseMethod
    notes: tuple[str, ...] = field(default_factory=tuple)


# ------------------------------------------------------------------ JSON extraction and repair
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def _braced(text: str) -> str | None:
    """The first balanced {...} block (quotes respected), or everything from the first '{'."""
    start = text.find("{")
    if start < 0:
        return None
    depth, quote, escape = 0, "", False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start:i + 1]
    return text[start:]


def _repair(blob: str) -> str:
    """Common slips of small models: single quotes, Python literals, trailing commas."""
    out = re.sub(r"(?<![A-Za-z])'([^'\n]*)'", r'"\1"', blob)
    out = re.sub(r"\bTrue\b", "true", out)
    out = re.sub(r"\bFalse\b", "false", out)
    out = re.sub(r"\bNone\b", "null", out)
    return re.sub(r",\s*([}\]])", r"\1", out)


def _close(blob: str) -> str:
    """Close what a reply cut off by the token cap left open (string, lists, objects)."""
    stack: list[str] = []
    found, quoted = jsonio.brackets(blob)
    for _, ch in found:
        if ch in "[{":
            stack.append("]" if ch == "[" else "}")
        elif stack:
            stack.pop()
    out = blob + ('"' if quoted else "")
    out = out.rstrip().rstrip(",")
    if out.endswith(":"):
        out += " null"
    return out + "".join(reversed(stack))


def _truncated(blob: str) -> dict[str, Any] | None:
    """A cut-off object: close it, dropping the unfinished last member if need be."""
    text = _repair(blob)
    for _ in range(30):
        try:
            data = jsonio.loads(_close(text))
            return data if isinstance(data, dict) else None
        except json.JSONDecodeError:
            cut = text.rfind(",")
            if cut <= 0:
                return None
            text = text[:cut]
    return None


def _load_object(text: str) -> tuple[dict[str, Any] | None, ParseMethod]:
    fenced = _FENCE.search(text)
    candidates = ([fenced.group(1)] if fenced else []) + [text]
    for candidate in candidates:
        blob = _braced(candidate)
        if blob is None:
            continue
        try:
            data = jsonio.loads(blob)
            if isinstance(data, dict):
                return data, "json"
        except json.JSONDecodeError:
            pass
        data = _truncated(blob)
        if data is not None:
            return data, "repaired"
    return None, "default"


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        parts = re.split(r"\s*(?:;|\n)\s*", value)
        return tuple(p.strip() for p in parts if p.strip())
    if isinstance(value, (list, tuple)):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return (str(value),)


def _steps(value: Any) -> tuple[str, ...]:
    """Plan steps; one string holding several ("go to Kitchen; go to Office") is several steps."""
    return tuple(part for step in _strings(value) for part in _strings(step))


def _agent(name: Any, agents: Sequence[str]) -> str | None:
    text = str(name or "").strip().lower()
    for a in agents:
        if a.lower() == text:
            return a
    for a in agents:  # "Agent Alice", "alice (me)"
        if re.search(rf"\b{re.escape(a.lower())}\b", text):
            return a
    return None


# ------------------------------------------------------------------ meta-plan
def _subtasks_from_json(data: Mapping[str, Any], agents: Sequence[str]) -> list[Subtask]:
    raw = data.get("subtasks", data.get("plan", []))
    if isinstance(raw, Mapping):
        raw = [raw]
    out: list[Subtask] = []
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(item, Mapping):
            continue
        agent = _agent(item.get("agent") or item.get("assignee") or item.get("name"), agents)
        if agent is None:
            continue
        status = str(item.get("status", "todo")).strip().lower()
        sid = str(item.get("id") or f"s{i + 1}").strip() or f"s{i + 1}"
        steps = _steps(item.get("steps"))
        goal = str(item.get("goal") or (steps[0] if steps else "")).strip()
        out.append(Subtask(sid, agent, goal, steps, status if status in STATUSES else "todo"))
    return _unique_ids(out)


def _unique_ids(subtasks: list[Subtask]) -> list[Subtask]:
    seen: set[str] = set()
    out = []
    for s in subtasks:
        sid, n = s.id, 1
        while sid in seen:
            n += 1
            sid = f"{s.id}-{n}"
        seen.add(sid)
        out.append(replace(s, id=sid))
    return out


_LINE = re.compile(r"^\s*(?:[-*\d.)]+\s*)?(?P<agent>[A-Za-z]+)\s*[:\-]\s*(?P<rest>.+)$")


def _subtasks_from_lines(text: str, agents: Sequence[str]) -> list[Subtask]:
    out: list[Subtask] = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        agent = _agent(m["agent"], agents)
        if agent is None:
            continue
        steps = _strings(m["rest"])
        out.append(Subtask(f"s{len(out) + 1}", agent, steps[0] if steps else m["rest"].strip(), steps))
    return out


def parse_metaplan(text: str, agents: Sequence[str], fallback: MetaPlan | None = None) -> Parsed:
    """Read a plan from a reply: JSON, repaired JSON, "Agent: step; step" lines, else ``fallback``
    (the previous plan) or :func:`default_plan`. The returned plan has version 0; the caller
    numbers versions."""
    data, method = _load_object(text)
    if data is not None:
        subs = _subtasks_from_json(data, agents)
        if subs or isinstance(data.get("subtasks"), list):
            return Parsed(MetaPlan(tuple(subs), str(data.get("rationale", "")).strip()), method)
    subs = _subtasks_from_lines(text, agents)
    if subs:
        return Parsed(MetaPlan(tuple(subs), ""), "lines")
    base = fallback if fallback is not None else default_plan(agents)
    return Parsed(replace(base, version=0), "default")


# ------------------------------------------------------------------ critique
_DISAGREE = re.compile(r"\b(disagree|do not agree|don't agree|not agree|no\b|reject|object)", re.IGNORECASE)
_AGREE = re.compile(r"\b(agree|agreed|yes|approve|looks good|fine)\b", re.IGNORECASE)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "y", "agree", "1")
    return bool(value)


def parse_critique(text: str) -> Parsed:
    """Read a critique: JSON, repaired JSON, a yes/no reading of plain words, else the default
    "agree, nothing to add" (a reply that says nothing usable does not block consensus)."""
    data, method = _load_object(text)
    if data is not None and "agree" in data:
        return Parsed(Critique(_truthy(data.get("agree")), _strings(data.get("issues")),
                               _strings(data.get("suggested_changes")), _strings(data.get("new_information"))),
                      method)
    words = text.strip()
    if _DISAGREE.search(words):
        return Parsed(Critique(False, (words[:300],)), "lines")
    if _AGREE.search(words):
        return Parsed(Critique(True), "lines")
    return Parsed(Critique(True), "default")
