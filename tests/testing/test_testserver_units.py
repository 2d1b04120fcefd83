"""Pure parts: token accounting, policies, completion finishing, fault decisions, config."""

from __future__ import annotations

import math

import pytest

from promptopt.testing import (
    POLICIES,
    FaultPlan,
    PolicyReply,
    PolicyRequest,
    ServerConfig,
    constant,
    decide_fault,
    echo,
    hashed,
    prompt_tokens,
    request_key,
    scripted,
)
from promptopt.testing.completion import finish
from promptopt.testing.faults import FaultInjector
from promptopt.testing.openai_format import format_seconds, parse_chat_request


def req(text: str = "hello world", **kw: object) -> PolicyRequest:
    return PolicyRequest(model="m", messages=(("system", "be brief"), ("user", text)), **kw)  # type: ignore[arg-type]


def test_prompt_tokens_formula() -> None:
    assert prompt_tokens([("system", "be brief"), ("user", "a b  c\n d")]) == (2 + 4) + (4 + 4)
    assert prompt_tokens([("user", "")]) == 4


def test_finish_truncates_to_max_tokens() -> None:
    c = finish("one two three four", req(max_tokens=2))
    assert (c.text, c.finish_reason, c.completion_tokens) == ("one two", "length", 2)
    c = finish("one  two", req(max_tokens=2))
    assert (c.text, c.finish_reason, c.completion_tokens) == ("one  two", "stop", 2)
    assert c.prompt_tokens == 6 + 6


def test_finish_overrides_and_fault_kinds() -> None:
    c = finish(PolicyReply("a b", finish_reason="content_filter", prompt_tokens=1, completion_tokens=9), req())
    assert (c.finish_reason, c.prompt_tokens, c.completion_tokens) == ("content_filter", 1, 9)
    c = finish("a b c", req(), fault="empty")
    assert (c.text, c.completion_tokens, c.finish_reason) == ("", 0, "stop")
    c = finish("a b c d", req(), fault="length")
    assert (c.text, c.completion_tokens, c.finish_reason) == ("a b", 2, "length")


def test_builtin_policies() -> None:
    assert echo()(req("say this")) == "say this"
    assert constant("fixed")(req()) == "fixed"
    policy = scripted(
        [(r"capital of (\w+)", lambda r, m: f"capital:{m.group(1)}"), ("hi", PolicyReply("hey"))],
        default="?",
    )
    assert policy(req("the capital of France")) == "capital:France"
    assert policy(req("hi there")) == PolicyReply("hey")
    assert policy(req("nope")) == "?"
    assert scripted([], default=echo())(req("x y")) == "x y"


def test_hashed_is_deterministic_and_sensitive() -> None:
    policy = hashed(words=20)
    a = policy(req("q", seed=1, temperature=0.5))
    assert len(a.split()) == 20
    assert a == hashed(words=20)(req("q", seed=1, temperature=0.5))
    assert a != policy(req("q", seed=2, temperature=0.5))
    assert a != policy(req("q", seed=1, temperature=0.7))
    assert a != policy(req("r", seed=1, temperature=0.5))
    assert set(POLICIES) == {"echo", "hashed", "constant"}
    assert POLICIES["constant"]("z")(req()) == "z"


def test_parse_chat_request() -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "a b"}]}],
        "max_completion_tokens": 3,
        "stop": "x",
        "seed": 4,
        "temperature": 0,
    }
    r = parse_chat_request(body, "default")
    assert r.messages == (("user", "a b"),)
    assert (r.max_tokens, r.stop, r.seed, r.temperature) == (3, ("x",), 4, 0.0)
    assert parse_chat_request({"messages": [{"role": "user", "content": "q"}]}, "dflt").model == "dflt"
    for bad in ({"messages": []}, {"messages": [{"content": "x"}]}, {**body, "max_tokens": "3"}, {**body, "n": 2}):
        with pytest.raises(ValueError):
            parse_chat_request(bad, "d")


def test_request_key_ignores_volatile_fields_only() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "q"}], "temperature": 0.2}
    key = request_key(body)
    assert len(key) == 64
    assert request_key({**body, "user": "u1", "stream": False, "metadata": {"a": 1}}) == key
    assert request_key(dict(reversed(list(body.items())))) == key
    assert request_key({**body, "temperature": 0.3}) != key
    assert request_key({**body, "model": "n"}) != key


def test_decide_fault_is_pure_and_follows_rates() -> None:
    plan = FaultPlan(rates={"429": 0.25, "500": 0.25}, seed=3)
    decisions = [decide_fault(plan, f"k{i}", a) for i in range(400) for a in range(2)]
    assert decisions == [decide_fault(plan, f"k{i}", a) for i in range(400) for a in range(2)]
    counts = {kind: decisions.count(kind) for kind in ("429", "500", None)}
    assert 150 < counts["429"] < 250 and 150 < counts["500"] < 250 and 300 < counts[None] < 500
    other_seed = [decide_fault(FaultPlan(rates=plan.rates, seed=4), f"k{i}", 0) for i in range(400)]
    assert other_seed != decisions[::2]
    assert decide_fault(FaultPlan(), "k", 0) is None


def test_fault_plan_validation() -> None:
    for bad in (
        dict(rates={"418": 0.1}),
        dict(rates={"429": 0.7, "500": 0.7}),
        dict(rates={"429": -0.1}),
        dict(always="teapot"),
        dict(schedule=["500", "nope"]),
        dict(max_failures_per_key=-1),
    ):
        with pytest.raises(ValueError):
            FaultPlan(**bad)  # type: ignore[arg-type]
    assert FaultPlan(rates={429: 0.5}).rates == {"429": 0.5}  # type: ignore[dict-item]


def test_injector_cap_schedule_and_always() -> None:
    inj = FaultInjector(FaultPlan(always="500", max_failures_per_key=2))
    assert [inj.next("a") for _ in range(4)] == ["500", "500", None, None]
    assert inj.next("b") == "500"
    inj = FaultInjector(FaultPlan(schedule=["429", None, "reset"], always="503"))
    assert [inj.next("a") for _ in range(4)] == ["429", None, "reset", "503"]
    inj.reset()
    assert inj.next("z") == "429"


def test_server_config_capacity() -> None:
    cfg = ServerConfig(max_seqs=4, latency_s=0.2)
    assert cfg.theoretical_capacity() == pytest.approx(20.0)
    cfg = ServerConfig(max_seqs=8, latency_s=0.2, prefill_tps=1000, decode_tps=100)
    assert cfg.service_time(prompt_tokens=100, completion_tokens=10) == pytest.approx(0.4)
    assert cfg.theoretical_capacity(prompt_tokens=100, completion_tokens=10) == pytest.approx(20.0)
    assert math.isinf(ServerConfig().theoretical_capacity())
    with pytest.raises(ValueError):
        ServerConfig(max_seqs=0)
    with pytest.raises(ValueError):
        ServerConfig(decode_tps=0)


def test_format_seconds() -> None:
    assert [format_seconds(x) for x in (1.0, 2, 0.5, 250.0, 0.3 * 1000)] == ["1", "2", "0.5", "250", "300"]
