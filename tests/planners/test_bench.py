"""bench(): the table and JSON the CLI prints, and its speed on test24."""

from __future__ import annotations

import time

import pytest
from promptopt.planners.scripted import BENCH_AGENTS, bench


def test_full_test24_run_of_every_scripted_agent_is_fast() -> None:
    start = time.perf_counter()
    result = bench("test24", list(BENCH_AGENTS))
    assert time.perf_counter() - start < 120
    table = result.table()
    for name in BENCH_AGENTS:
        assert name in table
    assert "@1000" in table and "EI vs greedy" in table
    data = result.to_json()
    assert set(data["agents"]) == set(BENCH_AGENTS)
    g = data["agents"]["greedy"]
    assert len(g["per_episode"]) == 24 and g["low"] <= g["mean"] <= g["high"]
    assert data["agents"]["greedy"]["diff_vs_greedy"] is None
    o = data["agents"]["oracle"]
    assert o["ei_vs_greedy"] > 0 and o["diff_vs_greedy"]["low"] > 0


def test_bench_under_meeting_policy_and_household() -> None:
    r = bench("test24", ["greedy-pair"], comm="meeting")
    assert r.comm == "meeting" and r.summaries[0].agent == "greedy-pair"
    h = bench("household10", list(BENCH_AGENTS))
    assert h.summaries[0].metric == "steps" and "steps" in h.table()
    data = h.to_json()["agents"]
    assert set(data) == set(BENCH_AGENTS) and len(data["oracle"]["per_episode"]) == 10
    assert data["oracle"]["ei_vs_greedy"] > data["claims"]["ei_vs_greedy"] > data["greedy-pair"]["ei_vs_greedy"] > 0
    assert data["oracle"]["diff_vs_greedy"]["high"] < 0  # fewer steps than the single agent, reliably


def test_bench_errors() -> None:
    with pytest.raises(ValueError, match="comm"):
        bench("test24", ["greedy"], comm="shout")
    with pytest.raises(ValueError):
        bench("test24", [])
    with pytest.raises(ValueError, match="unknown team"):
        bench("test24", ["wizards"])
