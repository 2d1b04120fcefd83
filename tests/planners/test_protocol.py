"""The protocol: a user's own toy environment (the docstring example) runs through the driver."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from promptopt.planners.environments import (
    Environment,
    Event,
    HouseholdEnv,
    Observation,
    StepResult,
    TransportEnv,
    View,
    event_log_hash,
    run_episode,
)


@dataclass(frozen=True)
class CounterView:
    count: int
    goal: int

    def text(self) -> str:
        return f"Count {self.count}/{self.goal}."

    def actions(self) -> tuple[str, ...]:
        return ("add one", "wait")


class CounterEnv:
    """Agents add one to a shared counter until it reaches the goal."""

    agents = ("A",)

    def __init__(self, goal: int = 3) -> None:
        self.goal, self.count, self.tick = goal, 0, 0

    def reset(self, seed: int) -> dict[str, Observation]:
        self.count, self.tick = 0, 0
        return {"A": Observation("A", 0, CounterView(0, self.goal))}

    def step(self, actions: Mapping[str, str]) -> StepResult:
        self.tick += 1
        ok = actions.get("A") == "add one"
        self.count += ok
        event = Event(self.tick, "A", actions.get("A", ""), "finished" if ok else "failed",
                      "" if ok else "unknown action")
        done = self.count >= self.goal
        obs = {} if done else {"A": Observation("A", self.tick, CounterView(self.count, self.goal))}
        return StepResult(obs, (event,), done)


class AddOne:
    def act(self, observation: Observation) -> str:
        return observation.actions[0]


def test_toy_environment_satisfies_protocol_and_runs() -> None:
    env = CounterEnv()
    assert isinstance(env, Environment)
    obs = env.reset(0)
    assert isinstance(obs["A"].view, View)
    assert "A. add one" in obs["A"].prompt()
    result = run_episode(CounterEnv, {"A": AddOne()}, seed=0)
    assert result.decisions == 3 and result.team == "custom"


def test_builtin_worlds_satisfy_protocol() -> None:
    assert isinstance(TransportEnv(), Environment)
    assert isinstance(HouseholdEnv(), Environment)


def test_event_hash_is_order_sensitive() -> None:
    a, b = Event(1, "A", "wait", "finished"), Event(2, "A", "wait", "finished")
    assert event_log_hash([a, b]) != event_log_hash([b, a])
    assert event_log_hash([a, b]) == event_log_hash([Event(1, "A", "wait", "finished"), b])


def test_docstring_example_runs() -> None:
    """The example in the protocol module's docstring is the documentation: execute it as written."""
    import textwrap

    from promptopt.planners.environments import protocol

    doc = protocol.__doc__ or ""
    code = textwrap.dedent(doc.split("Minimal example", 1)[1].split("::", 1)[1])
    namespace: dict = {}
    exec(compile(code, "protocol-docstring", "exec"), namespace)  # noqa: S102 (our own docstring)
    env = namespace["CounterEnv"](goal=2)
    result = run_episode(env, {"A": AddOne()}, seed=0)
    assert result.decisions == 2
