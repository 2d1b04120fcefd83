"""The Pareto front past two objectives: dev score, prompt tokens and completion tokens per example."""

from __future__ import annotations

import json

import pytest

from promptopt.budget import Budget
from promptopt.llm.cache import ResponseCache
from promptopt.llm.records import Sampling
from promptopt.optimization import aoptimize
from promptopt.optimizers.capo import CAPOConfig
from promptopt.optimizers.opro import OPROConfig
from promptopt.optimizers.pareto import FrontPoint, check_objectives, pareto_front

import scripted  # noqa: E402  (tests/optimizers is on sys.path through conftest)

THREE = ("score", "prompt_tokens", "completion_tokens")


def test_a_third_objective_keeps_what_two_would_drop():
    verbose = FrontPoint("verbose", score=0.9, tokens=10, completion_tokens=40.0)
    terse = FrontPoint("terse", score=0.8, tokens=12, completion_tokens=5.0)  # worse in both of the two
    worst = FrontPoint("worst", score=0.7, tokens=14, completion_tokens=6.0)
    assert pareto_front([verbose, terse, worst]) == [verbose]
    assert pareto_front([verbose, terse, worst], THREE) == [verbose, terse]
    assert pareto_front([verbose, terse, worst], ("score", "completion_tokens")) == [verbose, terse]


def test_objectives_are_checked_by_name():
    assert check_objectives("score, completion_tokens") == ("score", "completion_tokens")
    with pytest.raises(ValueError, match="unknown objective"):
        check_objectives("score,cost")
    with pytest.raises(ValueError, match="at least two different"):
        check_objectives("score,score")
    with pytest.raises(ValueError, match="unknown objective"):
        CAPOConfig(objectives=("score", "latency"))
    assert OPROConfig(objectives="score,completion_tokens").objectives == ("score", "completion_tokens")


def _wordy_policy(request):
    """The scripted world, except that a VERIFY prompt makes the model explain at length."""
    answer = scripted.policy(request)
    if "<final_answer>" in answer and "VERIFY" in request.messages[-1][1].split("Input:")[0]:
        return "Let me check each word of the review twice before I answer. " + answer
    return answer


@pytest.mark.asyncio
async def test_the_front_weighs_completion_tokens_when_asked(server_factory, tmp_path):
    server = server_factory(policy=_wordy_policy)
    config = CAPOConfig(population=4, offspring=4, block_size=20, max_blocks=3, dev_size=60, max_shots=0,
                        sampling=Sampling(max_tokens=48), meta_sampling=Sampling(temperature=0.7, max_tokens=64))

    async def run(name, objectives):
        return await aoptimize(
            scripted.make_task(n_dev=100, n_test=10), model=f"openai:test-model@{server.base_url}",
            budget=Budget.from_options(generations=3), seed=7, config=CAPOConfig(**{**config.__dict__, "objectives": objectives}),
            initial_prompts=scripted.INITIAL, run_dir=tmp_path / name, cache=ResponseCache(tmp_path / "c.sqlite3"))

    two = await run("two", ("score", "prompt_tokens"))
    three = await run("three", THREE)  # the same run (same seed, same cache): only the front differs
    assert [c for c in three.candidates] == [c for c in two.candidates]
    assert all(p.completion_tokens is not None and p.completion_tokens > 0 for p in three.front)
    wordy = [p for p in three.front if "VERIFY" in three.candidates[p.candidate_id].prompt.instruction]
    terse = [p for p in three.front if "VERIFY" not in three.candidates[p.candidate_id].prompt.instruction]
    assert wordy and terse and min(p.completion_tokens for p in wordy) > max(p.completion_tokens for p in terse)
    # a point on the two-objective front is on the three-objective one (a third objective only adds)
    assert {p.candidate_id for p in two.front} <= {p.candidate_id for p in three.front}
    for a in three.front:
        assert not any(b != a and b.score >= a.score and b.tokens <= a.tokens
                       and b.completion_tokens <= a.completion_tokens
                       and (b.score, b.tokens, b.completion_tokens) != (a.score, a.tokens, a.completion_tokens)
                       for b in three.front)
    summary = json.loads((tmp_path / "three" / "summary.json").read_text())
    assert [p["completion_tokens"] for p in summary["front"]] == [p.completion_tokens for p in three.front]
    assert len(list((tmp_path / "three" / "artifacts" / "front").glob("*.json"))) == len(three.front)
    # config.json names the objectives only when they are not the default (older runs still resume)
    assert json.loads((tmp_path / "three" / "config.json").read_text())["config"]["objectives"] == list(THREE)
    assert "objectives" not in json.loads((tmp_path / "two" / "config.json").read_text())["config"]


def test_the_objectives_flag_is_checked_before_anything_runs(run_cli, home, tmp_path):
    result = run_cli("optimize", "--task", "demo_sentiment", "--objectives", "score,bogus", "--budget-tokens", "100",
                     "--run-dir", str(tmp_path / "run"), env=home)
    assert result.returncode == 2 and "--objectives" in result.stderr and "bogus" in result.stderr
    assert not (tmp_path / "run").exists()
