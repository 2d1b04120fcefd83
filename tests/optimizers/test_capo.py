"""CAPO end to end on the loopback server with a scripted world (see scripted.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from promptopt.records import RecordError
from promptopt.budget import Budget, NoImprovement, TokenLimit
from promptopt.llm.cache import ResponseCache
from promptopt.llm.records import Sampling
from promptopt.optimization import aoptimize
from promptopt.optimizers.capo import CAPOConfig
from promptopt.testing import policies

import scripted  # noqa: E402  (tests/optimizers is on sys.path through conftest)

CONFIG = CAPOConfig(
    population=4, offspring=4, block_size=30, max_blocks=10, dev_size=300, max_shots=2,
    sampling=Sampling(max_tokens=32), meta_sampling=Sampling(temperature=0.7, max_tokens=64),
)


async def run_capo(server, tmp_path, *, name="run", budget=None, seed=7, config=CONFIG, cache=None,
                   keep_run_dir=True, **options):
    return await aoptimize(
        scripted.make_task(), model=f"openai:test-model@{server.base_url}",
        budget=budget or Budget.from_options(generations=3), seed=seed, config=config,
        initial_prompts=scripted.INITIAL, run_dir=tmp_path / name if keep_run_dir else None,
        cache=cache or ResponseCache(tmp_path / f"{name}.sqlite3"), **options,
    )


@pytest.mark.asyncio
async def test_capo_recombines_features_and_racing_saves_evaluations(server_factory, tmp_path):
    server = server_factory(policy=scripted.policy)
    result = await run_capo(server, tmp_path)
    assert scripted.has_both_features(result.best.instruction), result.best.instruction
    assert result.best_score.value > 0.95
    used, full = result.block_evaluations, result.full_block_evaluations
    print(f"racing used {used} of {full} block evaluations ({100 * (1 - used / full):.0f}% saved)")
    assert used <= 0.7 * full
    assert result.generations == 3 and "generation" in result.stop_reason

    run = tmp_path / "run"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best"]["candidate"] == result.best_id
    assert (run / "artifacts" / "best.json").is_file()
    assert (run / "progress.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list((run / "artifacts" / "front").glob("*.json"))) == len(result.front) >= 1
    events = [json.loads(line) for line in (run / "journal.jsonl").read_text().splitlines()]
    kinds = {e["event"] for e in events}
    assert {"candidate", "evaluation", "elimination", "survivors", "generation", "stop"} <= kinds
    children = [e for e in events if e["event"] == "candidate" and e["operator"] != "init"]
    assert children and all(len(e["parents"]) == 2 for e in children)
    # the front is non-dominated: no point is better in both score and length than another
    for a in result.front:
        assert not any(b.score >= a.score and b.tokens < a.tokens for b in result.front)


@pytest.mark.asyncio
async def test_same_seed_same_result(server_factory, tmp_path):
    server = server_factory(policy=scripted.policy)
    first = await run_capo(server, tmp_path, name="a")
    second = await run_capo(server, tmp_path, name="b")  # its own cache: every call is made again
    assert first.population == second.population
    assert first.best.instruction == second.best.instruction


@dataclass
class Recorder:
    """A stop condition that never fires and remembers the spend at every check."""

    totals: list[int] = field(default_factory=list)
    type = "recorder"

    def reason(self, state):
        self.totals.append(sum(u.total_tokens for u in state.usage.values()))
        return None

    def describe(self):
        return "records spend"


@pytest.mark.asyncio
@pytest.mark.parametrize("limit", [40_000, 47_500])
async def test_a_token_budget_is_met_within_a_few_requests_not_a_batch(server_factory, tmp_path, limit):
    server = server_factory(policy=scripted.policy)
    recorder = Recorder()
    # a test-only condition has no JSON form for config.json, so this run keeps no run directory
    result = await run_capo(server, tmp_path, budget=Budget([recorder, TokenLimit(limit)]), keep_run_dir=False)
    spent = sum(u.total_tokens for u in result.spend.values())
    downstream = result.spend["downstream"]
    per_request = downstream.total_tokens / downstream.requests
    assert "token budget" in result.stop_reason, result.stop_reason
    # the check that stopped the run saw the final spend: nothing was sent after it
    assert recorder.totals[-1] == spent
    # a racing block of 4 candidates is 120 requests (about 4,000 tokens): the last was cut to what fit
    print(f"budget {limit}, spent {spent}, about {per_request:.0f} tokens per request")
    assert limit - 3 * per_request <= spent <= limit + 3 * per_request
    assert abs(spent - limit) <= 0.05 * limit


@pytest.mark.asyncio
async def test_collapsed_population_stops_on_no_improvement(server_factory, tmp_path):
    # the meta-model always proposes the same instruction: after the first child every offspring
    # is a duplicate, so nothing new is ever raced
    constant = policies.scripted([(r"^(?!.*Input:)", "<prompt>Label the review.</prompt>")], default=scripted.policy)
    server = server_factory(policy=constant)
    result = await run_capo(
        server, tmp_path, budget=Budget([NoImprovement(2)]),
        config=CAPOConfig(population=4, offspring=2, block_size=30, max_blocks=3, dev_size=90, max_shots=0,
                          sampling=Sampling(max_tokens=32), meta_sampling=Sampling(max_tokens=64)),
    )
    assert "no improvement" in result.stop_reason
    assert result.generations <= 4
    # the constant answer copies a parent or is a known instruction: every proposal is rejected,
    # and a meta-prompt rejected twice is not asked again
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    per = summary["proposals"]["per_operator"]
    assert per["crossover"]["rejected"].get("parent_copy", 0) > 0
    assert summary["proposals"]["new_prompts_evaluated"] <= 1


@pytest.mark.asyncio
async def test_paper_compat_never_adds_a_shot(server_factory, tmp_path):
    from dataclasses import replace

    server = server_factory(policy=scripted.policy)
    await run_capo(server, tmp_path, config=replace(CONFIG, paper_compat=True))
    events = [json.loads(line) for line in (tmp_path / "run" / "journal.jsonl").read_text().splitlines()]
    shots = {e["candidate"]: len(e["prompt"]["examples"]) for e in events if e["event"] == "candidate"}
    children = [e for e in events if e["event"] == "candidate" and e["operator"] != "init"]
    assert children
    for child in children:
        # crossover keeps half of the parents' examples; the reference's "add" never takes effect
        assert shots[child["candidate"]] <= (shots[child["parents"][0]] + shots[child["parents"][1]]) // 2


@pytest.mark.asyncio
async def test_meta_model_on_another_endpoint_is_charged_and_guarded(server_factory, tmp_path):
    downstream_server, meta_server = server_factory(policy=scripted.policy), server_factory(policy=scripted.policy)
    recorder = Recorder()
    result = await aoptimize(
        scripted.make_task(), model=f"openai:test-model@{downstream_server.base_url}",
        meta_model=f"openai:meta-model@{meta_server.base_url}",
        budget=Budget([recorder, TokenLimit(25_000)]), seed=3, config=CONFIG,
        initial_prompts=scripted.INITIAL[:1], cache=ResponseCache(tmp_path / "c.sqlite3"),
    )
    assert meta_server.stats().requests_total > 0
    assert result.spend["meta"].requests == meta_server.stats().requests_total
    spent = sum(u.total_tokens for u in result.spend.values())
    assert recorder.totals[-1] == spent  # the stopping check saw every role's spend, meta included


def test_config_validation_and_json_round_trip():
    with pytest.raises(ValueError, match="unknown renderer 'xml'"):
        CAPOConfig(renderer="xml")
    with pytest.raises(ValueError, match="population"):
        CAPOConfig(population=1)
    assert CAPOConfig.from_dict(CONFIG.to_dict()) == CONFIG


@pytest.mark.parametrize("data, message", [
    ({"population": "ten"}, "CAPOConfig: population: Input should be a valid integer"),
    ({"bogus": 1}, "CAPOConfig: bogus: Unexpected keyword argument"),
    ({"meta_sampling": {"top_p": "high"}}, "CAPOConfig: meta_sampling.top_p: Input should be a valid number"),
    ({"alpha": 1}, "CAPOConfig: alpha must be in"),
])
def test_a_stored_config_names_the_bad_field(data, message):
    with pytest.raises(RecordError, match=message):
        CAPOConfig.from_dict(data)


def test_a_config_is_written_as_it_was_given():
    """config.json text is compared on resume: an int setting in a float field stays an int."""
    assert CAPOConfig(alpha=0.5, length_penalty=0).to_dict()["length_penalty"] == 0
    assert isinstance(CAPOConfig(length_penalty=0).to_dict()["length_penalty"], int)
    assert list(CAPOConfig().to_dict())[:3] == ["population", "offspring", "block_size"]


@pytest.mark.asyncio
async def test_resuming_a_finished_token_budget_run_replays_it(server_factory, tmp_path):
    server = server_factory(policy=scripted.policy)
    cache = ResponseCache(tmp_path / "c.sqlite3")
    budget = Budget.from_options(tokens=30_000)
    first = await run_capo(server, tmp_path, budget=budget, cache=cache)
    assert "token budget" in first.stop_reason
    sent = server.stats().requests_total
    again = await run_capo(server, tmp_path, budget=budget, cache=cache, resume=True)
    # the stored spend is carried at each point of the replay: the run stops where it stopped
    assert again.population == first.population and again.stop_reason == first.stop_reason
    assert server.stats().requests_total == sent  # everything came from the cache
    events = [json.loads(line) for line in (tmp_path / "run" / "journal.jsonl").read_text().splitlines()]
    assert sum(1 for e in events if e["event"] == "stop") == 1


@pytest.mark.asyncio
async def test_resuming_with_a_raised_budget_continues_the_search(server_factory, tmp_path):
    server = server_factory(policy=scripted.policy)
    cache = ResponseCache(tmp_path / "c.sqlite3")
    small = await run_capo(server, tmp_path, budget=Budget.from_options(tokens=20_000), cache=cache)
    sent = server.stats().requests_total
    larger = await run_capo(server, tmp_path, budget=Budget.from_options(tokens=45_000), cache=cache, resume=True)
    assert larger.generations >= small.generations and server.stats().requests_total > sent
    # earlier spend is carried over: the two sessions together do about the work of one run with
    # the larger budget, not that run's work on top of the first session's
    fresh_server = server_factory(policy=scripted.policy)
    straight = await run_capo(fresh_server, tmp_path, name="straight", budget=Budget.from_options(tokens=45_000))
    assert server.stats().requests_total <= 1.1 * fresh_server.stats().requests_total
    assert larger.population == straight.population
    events = [json.loads(line) for line in (tmp_path / "run" / "journal.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events].count("stop") == 1 and events[-1]["event"] in ("spend", "final_ranking")
