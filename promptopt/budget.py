"""Composable stop conditions, checked before every batch is sent.

The paper checks its token budget once per generation and so overshoots by up to a generation.
Here the LLM client calls a :class:`BudgetGuard` right before it sends a batch to the backend
(cache hits are free and never guarded), so a run overshoots by at most the batch in flight.
A :class:`Budget` is a list of conditions; the first one that fires gives the reason to stop.
Budgets round-trip through plain JSON for the run's ``config.json`` (no pickle, no eval).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, ClassVar, Literal, Mapping, Protocol, Sequence, Union, runtime_checkable

from pydantic import BeforeValidator, ConfigDict, Discriminator, Strict, Tag, WrapSerializer

from promptopt import records
from promptopt.errors import PromptoptError
from promptopt.llm.ledger import RoleUsage
from promptopt.llm.records import Count

TokenKind = Literal["total", "prompt", "completion"]
_TOKEN_KINDS: tuple[str, ...] = ("total", "prompt", "completion")

#: Stored conditions are read strictly: ``"10"`` or ``true`` is not a limit, an unknown key is an error.
_STORED = ConfigDict(extra="forbid")
#: A number of seconds or dollars; an int given stays an int in config.json.
Amount = Annotated[records.Number, Strict()]


class BudgetExhausted(PromptoptError):
    """A stop condition fired; ``reason`` says which and by how much. Optimizers catch it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"budget exhausted: {reason}")


class BudgetError(PromptoptError, ValueError):
    """A budget setting or a stored budget (config.json) is invalid."""


@dataclass(frozen=True)
class BudgetState:
    """What the conditions look at: the ledger's per-role usage plus the optimizer's progress.

    ``generation`` counts completed generations; ``run_dir`` is where a stop file is looked for.
    """

    usage: Mapping[str, RoleUsage]
    elapsed_s: float = 0.0
    generation: int = 0
    generations_without_improvement: int = 0
    run_dir: Path | None = None


@runtime_checkable
class StopCondition(Protocol):
    """One reason to stop: ``reason`` returns None to keep going, else a sentence for the user."""

    def reason(self, state: BudgetState) -> str | None: ...

    def describe(self) -> str: ...


def _scope(role: str | None) -> str:
    return "all roles" if role is None else f"role '{role}'"


def _roles(state: BudgetState, role: str | None) -> list[RoleUsage]:
    if role is None:
        return list(state.usage.values())
    row = state.usage.get(role)
    return [] if row is None else [row]


def _check_int(owner: str, name: str, value: object, minimum: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BudgetError(f"{owner}.{name} must be an integer >= {minimum}, got {value!r}")


def _check_number(owner: str, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise BudgetError(f"{owner}.{name} must be a finite number >= 0, got {value!r}")


def _check_role(owner: str, role: object) -> None:
    if role is not None and (not isinstance(role, str) or not role):
        raise BudgetError(f"{owner}.role must be a role name or None (all roles), got {role!r}")


@dataclass(frozen=True)
class Room:
    """What a countable limit has left for more spends of one unit (a per-role cost estimate)."""

    units: int
    used: int
    limit: int
    per_unit: int
    noun: str

    def describe(self) -> str:
        return f"{self.used:,} of {self.limit:,} {self.noun} spent, about {self.per_unit:,} more each"


def _room(used: int, per_unit: int, limit: int, noun: str) -> Room | None:
    if per_unit <= 0:
        return None
    return Room(max(0, (limit - used) // per_unit), used, limit, per_unit, noun)


@dataclass(frozen=True)
class TokenLimit:
    """Stop once ``kind`` tokens of ``role`` (None: all roles together) reach ``limit``.

    Tokens the server reported for failed attempts (``RoleUsage.retry_tokens``) count too.
    """

    __pydantic_config__ = _STORED
    type: ClassVar[str] = "tokens"
    limit: Count
    role: str | None = None
    kind: TokenKind = "total"

    def __post_init__(self) -> None:
        _check_int("TokenLimit", "limit", self.limit)
        _check_role("TokenLimit", self.role)
        if self.kind not in _TOKEN_KINDS:
            raise BudgetError(f"TokenLimit.kind must be one of {', '.join(_TOKEN_KINDS)}, got {self.kind!r}")

    def used(self, state: BudgetState) -> int:
        attr = f"{self.kind}_tokens"
        return sum(getattr(row, attr) for row in _roles(state, self.role))

    def _noun(self) -> str:
        return "tokens" if self.kind == "total" else f"{self.kind} tokens"

    def room(self, state: BudgetState, unit: Mapping[str, RoleUsage]) -> Room | None:
        """How many more spends of ``unit`` fit before the limit (None: ``unit`` costs nothing here)."""
        return _room(self.used(state), self.used(BudgetState(usage=unit)), self.limit, f"{self._noun()} ({_scope(self.role)})")

    def reason(self, state: BudgetState) -> str | None:
        used = self.used(state)
        if used < self.limit:
            return None
        return f"token budget reached: {used:,} of {self.limit:,} {self._noun()} ({_scope(self.role)})"

    def describe(self) -> str:
        return f"at most {self.limit:,} {self._noun()} ({_scope(self.role)})"


@dataclass(frozen=True)
class USDLimit:
    """Stop once the priced spend of all roles reaches ``limit`` dollars (unpriced models: never)."""

    __pydantic_config__ = _STORED
    type: ClassVar[str] = "usd"
    limit: Amount

    def __post_init__(self) -> None:
        _check_number("USDLimit", "limit", self.limit)

    def reason(self, state: BudgetState) -> str | None:
        spent = [row.usd for row in state.usage.values() if row.usd is not None]
        if not spent or sum(spent) < self.limit:
            return None
        return f"cost budget reached: ${sum(spent):,.4f} of ${self.limit:,.4f} (all roles)"

    def describe(self) -> str:
        return f"at most ${self.limit:,.4f} (all roles)"


@dataclass(frozen=True)
class CallLimit:
    """Stop once ``limit`` requests reached the backend (cache hits are free and not counted).

    Retries count: a request is every HTTP request the server saw (``RoleUsage.requests``), so
    the limit agrees with the server's logs and with providers' request quotas, which count a
    retried request each time. The guard runs before a batch, never between one request's
    attempts, so a run overshoots by at most the batch in flight times its retries; a request
    refused at connect reached no server and costs nothing.
    """

    __pydantic_config__ = _STORED
    type: ClassVar[str] = "calls"
    limit: Count
    role: str | None = None

    def __post_init__(self) -> None:
        _check_int("CallLimit", "limit", self.limit)
        _check_role("CallLimit", self.role)

    def used(self, state: BudgetState) -> int:
        return sum(row.requests for row in _roles(state, self.role))

    def room(self, state: BudgetState, unit: Mapping[str, RoleUsage]) -> Room | None:
        """How many more spends of ``unit`` fit before the limit (None: ``unit`` sends nothing here)."""
        return _room(self.used(state), self.used(BudgetState(usage=unit)), self.limit, f"requests ({_scope(self.role)})")

    def reason(self, state: BudgetState) -> str | None:
        used = self.used(state)
        if used < self.limit:
            return None
        return f"call budget reached: {used:,} of {self.limit:,} requests ({_scope(self.role)})"

    def describe(self) -> str:
        return f"at most {self.limit:,} requests ({_scope(self.role)})"


@dataclass(frozen=True)
class WallTime:
    """Stop once ``seconds`` have passed since the guard was created."""

    __pydantic_config__ = _STORED
    type: ClassVar[str] = "wall_time"
    seconds: Amount

    def __post_init__(self) -> None:
        _check_number("WallTime", "seconds", self.seconds)

    def reason(self, state: BudgetState) -> str | None:
        if state.elapsed_s < self.seconds:
            return None
        return f"wall time reached: {state.elapsed_s:,.1f} s of {self.seconds:,.1f} s"

    def describe(self) -> str:
        return f"at most {self.seconds:,.1f} s of wall time"


@dataclass(frozen=True)
class MaxGenerations:
    """Stop once ``n`` generations are complete."""

    __pydantic_config__ = _STORED
    type: ClassVar[str] = "generations"
    n: Count

    def __post_init__(self) -> None:
        _check_int("MaxGenerations", "n", self.n)

    def reason(self, state: BudgetState) -> str | None:
        if state.generation < self.n:
            return None
        return f"generation limit reached: {state.generation:,} of {self.n:,} generations"

    def describe(self) -> str:
        return f"at most {self.n:,} generations"


@dataclass(frozen=True)
class NoImprovement:
    """Stop once the best dev score has not improved for ``generations`` generations in a row."""

    __pydantic_config__ = _STORED
    type: ClassVar[str] = "no_improvement"
    generations: Count

    def __post_init__(self) -> None:
        _check_int("NoImprovement", "generations", self.generations, minimum=1)

    def reason(self, state: BudgetState) -> str | None:
        if state.generations_without_improvement < self.generations:
            return None
        return f"no improvement for {state.generations_without_improvement:,} generations (limit {self.generations:,})"

    def describe(self) -> str:
        return f"stop after {self.generations:,} generations without improvement"


@dataclass(frozen=True)
class StopFile:
    """Stop once a file ``name`` exists in the run directory: a clean stop from another shell."""

    __pydantic_config__ = _STORED
    type: ClassVar[str] = "stop_file"
    name: str = "STOP"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or Path(self.name).name != self.name:
            raise BudgetError(f"StopFile.name must be a plain file name, got {self.name!r}")

    def reason(self, state: BudgetState) -> str | None:
        if state.run_dir is None:
            return None
        path = Path(state.run_dir) / self.name
        if not path.exists():
            return None
        return f"stop file found: {path} (delete it before resuming)"

    def describe(self) -> str:
        return f"stop when a file named {self.name} appears in the run directory"


_BUILT_IN: tuple[type, ...] = (TokenLimit, USDLimit, CallLimit, WallTime, MaxGenerations, NoImprovement, StopFile)


def _kind(value: Any) -> str | None:
    """The ``type`` tag of stored condition data, or of a condition object being written."""
    return value.get("type") if isinstance(value, Mapping) else getattr(value, "type", None)


def _without_type(value: Any) -> Any:
    return {k: v for k, v in value.items() if k != "type"} if isinstance(value, Mapping) else value


def _with_type(condition: Any, fields_of: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    return {"type": condition.type, **fields_of(condition)}


#: A built-in condition as stored in config.json: its fields, tagged with its ``type`` first.
StoredCondition = Annotated[
    Union[tuple(Annotated[cls, BeforeValidator(_without_type), WrapSerializer(_with_type), Tag(cls.type)]
                for cls in _BUILT_IN)],
    Discriminator(_kind, custom_error_type="condition_type",
                  custom_error_message=f"unknown budget condition type (known: {', '.join(c.type for c in _BUILT_IN)})"),
]


@dataclass(frozen=True)
class _StoredBudget(records.Record):
    record_error = BudgetError

    conditions: tuple[StoredCondition, ...]


@dataclass(frozen=True, init=False)
class Budget:
    """Conditions composed with OR: the run stops when any one fires (the first one names why)."""

    conditions: tuple[StopCondition, ...]

    def __init__(self, conditions: Sequence[StopCondition] = ()) -> None:
        object.__setattr__(self, "conditions", tuple(conditions))
        for condition in self.conditions:
            if not isinstance(condition, StopCondition):
                raise BudgetError(f"{condition!r} is not a stop condition (needs reason() and describe())")

    def reason(self, state: BudgetState) -> str | None:
        for condition in self.conditions:
            why = condition.reason(state)
            if why is not None:
                return why
        return None

    def crossed_by(self, state: BudgetState, extra: Mapping[str, RoleUsage]) -> str | None:
        """Which countable limit (tokens, calls) spending ``extra`` on top of ``state`` would
        cross, as a reason; None when it fits."""
        more = BudgetState(usage=extra)
        for condition in self.conditions:
            if isinstance(condition, (TokenLimit, CallLimit)):
                used, adding = condition.used(state), condition.used(more)
                if adding and used + adding > condition.limit:
                    noun = "requests" if isinstance(condition, CallLimit) else condition._noun()
                    what = "call" if isinstance(condition, CallLimit) else "token"
                    return (f"{what} budget reached: {used:,} of {condition.limit:,} {noun} ({_scope(condition.role)}) "
                            f"spent, and one more request would take about {adding:,}")
        return None

    def room(self, state: BudgetState, unit: Mapping[str, RoleUsage]) -> Room | None:
        """The tightest room the countable limits (tokens, calls) leave for more spends of
        ``unit``; None when none of them counts it. Callers size a step with it so that they do not
        pay for work (a meta proposal) whose follow-up (its evaluation) the budget cannot buy."""
        rooms = [
            room
            for condition in self.conditions
            if isinstance(condition, (TokenLimit, CallLimit))
            and (room := condition.room(state, unit)) is not None
        ]
        return min(rooms, key=lambda r: r.units) if rooms else None

    def describe(self) -> str:
        if not self.conditions:
            return "no limits"
        return "; ".join(condition.describe() for condition in self.conditions)

    def to_dict(self) -> dict[str, Any]:
        for condition in self.conditions:
            if type(condition) not in _BUILT_IN:
                raise BudgetError(
                    f"{type(condition).__name__} cannot be stored in config.json: only the built-in conditions "
                    f"({', '.join(c.type for c in _BUILT_IN)}) have a JSON form"
                )
        return _StoredBudget(self.conditions).to_dict()

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "budget") -> "Budget":
        """A budget from its config.json form; bad data names the condition and field."""
        return cls(_StoredBudget.from_dict(data, where=where).conditions)

    @classmethod
    def from_options(
        cls,
        tokens: int | None = None,
        usd: float | None = None,
        calls: int | None = None,
        wall_time_s: float | None = None,
        generations: int | None = None,
        no_improvement: int | None = None,
        stop_file: bool = True,
        role_tokens: Mapping[str, int] | None = None,
    ) -> "Budget":
        """The CLI's and API's flags as a budget; None leaves that limit out."""
        conditions: list[StopCondition] = []
        if tokens is not None:
            conditions.append(TokenLimit(tokens))
        for role, limit in sorted((role_tokens or {}).items()):
            conditions.append(TokenLimit(limit, role=role))
        if usd is not None:
            conditions.append(USDLimit(usd))
        if calls is not None:
            conditions.append(CallLimit(calls))
        if wall_time_s is not None:
            conditions.append(WallTime(wall_time_s))
        if generations is not None:
            conditions.append(MaxGenerations(generations))
        if no_improvement is not None:
            conditions.append(NoImprovement(no_improvement))
        if stop_file:
            conditions.append(StopFile())
        return cls(conditions)


class UsageSource(Protocol):
    """What the guard reads: a :class:`UsageLedger`, or a view adding earlier sessions' spend
    (:class:`promptopt.spend.CarriedSpend`)."""

    def snapshot(self) -> Mapping[str, RoleUsage]: ...


class BudgetGuard:
    """Raises :class:`BudgetExhausted` before a batch is sent once the budget is spent.

    The LLM client calls ``guard(role, n_requests)`` right before sending a batch to the backend;
    the optimizer updates ``generation`` / ``generations_without_improvement`` and calls
    :meth:`check` between generations. Usage is checked before a batch is sent, and a batch that
    would cross a token or call limit is cut to what fits (:meth:`allowance`).
    """

    def __init__(
        self,
        budget: Budget,
        ledger: UsageSource,
        *,
        run_dir: str | os.PathLike[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget = budget
        self.ledger = ledger
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.generation = 0
        self.generations_without_improvement = 0
        self._clock = clock
        self._start = clock()

    def state(self) -> BudgetState:
        return BudgetState(
            usage=self.ledger.snapshot(),
            elapsed_s=self._clock() - self._start,
            generation=self.generation,
            generations_without_improvement=self.generations_without_improvement,
            run_dir=self.run_dir,
        )

    def reason(self) -> str | None:
        """Why the run should stop now, or None."""
        return self.budget.reason(self.state())

    def check(self) -> None:
        """Raise :class:`BudgetExhausted` if any condition fires (between generations)."""
        why = self.reason()
        if why is not None:
            raise BudgetExhausted(why)

    def __call__(self, role: str, n_requests: int) -> None:
        """Called by the client before sending ``n_requests`` requests of ``role``."""
        self.check()

    def allowance(self, role: str, estimates: Sequence[RoleUsage]) -> int:
        """How many of the requests (in order, each its estimated cost) fit under the token and
        call limits; raises :class:`BudgetExhausted` when not even the first does. The client
        sends that many, then asks again with their real cost: a batch near a limit is cut where
        it would cross it, so the overshoot is what the estimates miss, not a whole batch."""
        state = self.state()
        total = RoleUsage()
        for count, estimate in enumerate(estimates):
            total = total + estimate
            why = self.budget.crossed_by(state, {role: total})
            if why is not None:
                if count > 0:
                    return count
                row = state.usage.get(role)
                if row is None or row.requests == 0:
                    return 1  # nothing known of this role's cost yet (its estimate is a guess): learn it
                raise BudgetExhausted(why)
        return len(estimates)
