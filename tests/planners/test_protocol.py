"""The protocol: a user's own toy environment (the docstring example) runs through the driver."""

from __future__ import annotations

from promptopt.planners.environments import Environment, Event, HouseholdEnv, Observation, TransportEnv, View, event_log_hash
from promptopt.planners.scripted import run_episode


def _docstring_example() -> dict:
    """The toy environment of the protocol module's docstring, executed as written: the
    documentation is the code under test (no copy of it here)."""
    import textwrap

    from promptopt.planners.environments import protocol

    doc = protocol.__doc__ or ""
    code = textwrap.dedent(doc.split("Minimal example", 1)[1].split("::", 1)[1])
    namespace: dict = {}
    exec(compile(code, "protocol-docstring", "exec"), namespace)  # noqa: S102 (our own docstring)
    return namespace


class AddOne:
    def act(self, observation: Observation) -> str:
        return observation.actions[0]


def test_toy_environment_satisfies_protocol_and_runs() -> None:
    CounterEnv = _docstring_example()["CounterEnv"]
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


def test_docstring_example_runs_to_its_goal() -> None:
    env = _docstring_example()["CounterEnv"](goal=2)
    result = run_episode(env, {"A": AddOne()}, seed=0)
    assert result.decisions == 2
