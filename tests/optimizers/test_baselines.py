"""The baselines (OPRO, EvoPrompt GA/DE, "initial") end to end on the scripted world."""

from __future__ import annotations

import json
import random
import re

import pytest

from promptopt.budget import Budget
from promptopt.llm.cache import ResponseCache
from promptopt.llm.records import Sampling
from promptopt.operators import roulette_pick
from promptopt.optimization import aoptimize, config_class, config_from_options
from promptopt.optimizers.capo import CAPOConfig
from promptopt.optimizers.evoprompt import EvoPromptDEConfig, EvoPromptGAConfig
from promptopt.optimizers.opro import OPROConfig

import scripted  # noqa: E402  (tests/optimizers is on sys.path through conftest)

SEARCHERS = ("opro", "evoprompt-ga", "evoprompt-de")
SMALL = dict(population=4, dev_size=40, block_size=20, sampling=Sampling(max_tokens=32),
             meta_sampling=Sampling(temperature=0.7, max_tokens=64))


def small_config(name, **changes):
    return config_class(name)(**{**SMALL, **changes})


async def run(server, tmp_path, name, *, run_name="run", config=None, generations=2, seed=7, **options):
    return await aoptimize(
        scripted.make_task(), optimizer=name, model=f"openai:test-model@{server.base_url}",
        budget=Budget.from_options(generations=generations), seed=seed, config=config or small_config(name),
        initial_prompts=scripted.INITIAL, run_dir=tmp_path / run_name,
        cache=ResponseCache(tmp_path / f"{run_name}.sqlite3"), **options,
    )


def journal(path):
    return [json.loads(line) for line in (path / "journal.jsonl").read_text().splitlines()]


def decisions(path):
    """The journal without timestamps and spend notes: what must be the same for the same seed."""
    return [{k: v for k, v in e.items() if k != "t"} for e in journal(path) if not e.get("note")]


def full_scores(events):
    """Each candidate's full-dev score from the journal's evaluation events (equal-size blocks)."""
    blocks = {}
    for e in events:
        if e["event"] == "evaluation":
            for cid, score in e["scores"].items():
                blocks.setdefault(cid, []).append(score)
    return {cid: sum(s) / len(s) for cid, s in blocks.items()}


class MetaLog:
    """The scripted policy, remembering every meta-prompt it answered."""

    def __init__(self):
        self.prompts = []

    def __call__(self, request):
        if request.messages[0][0] != "system":
            self.prompts.append(request.messages[-1][1])
        return scripted.policy(request)


@pytest.mark.asyncio
@pytest.mark.parametrize("name", SEARCHERS)
async def test_search_beats_the_initial_prompts_and_is_deterministic(server_factory, tmp_path, name):
    server = server_factory(policy=scripted.policy)
    result = await run(server, tmp_path, name)
    events = journal(tmp_path / "run")
    scores = full_scores(events)
    initial = [e["candidate"] for e in events if e["event"] == "candidate" and e["operator"] == "init"]
    # the best initial prompt has one feature (~0.6); the search recombines both (1.0)
    assert scripted.has_both_features(result.best.instruction), result.best.instruction
    assert result.best_score.value == scores[result.best_id] > max(scores[c] for c in initial) + 0.2
    assert result.best_initial_id == max(initial, key=lambda c: scores[c])
    assert result.generations == 2 and result.best_score.n == 40  # scored on the full dev set
    # every candidate was scored on every dev block (no racing)
    assert result.block_evaluations == result.full_block_evaluations == 2 * len(result.candidates)

    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["optimizer"] == name and summary["best"]["candidate"] == result.best_id
    # the proposal counts: what was asked, what came back usable, what was evaluated
    operator = {"opro": "opro", "evoprompt-ga": "ga", "evoprompt-de": "de"}[name]
    counts = summary["proposals"]["per_operator"][operator]
    batches = [e for e in events if e["event"] == "proposals"]
    assert counts["asked"] == sum(e["asked"] for e in batches) > 0
    assert counts["valid"] == sum(e["valid"] for e in batches)
    assert sum(counts["rejected"].values()) == sum(sum(e["rejected"].values()) for e in batches)
    assert counts["new_prompts_evaluated"] == len(result.candidates) - len(initial) >= 5
    assert summary["proposals"]["new_prompts_evaluated"] == counts["new_prompts_evaluated"]
    artifacts = tmp_path / "run" / "artifacts"
    assert json.loads((artifacts / "best.json").read_text())["provenance"]["optimizer"] == name
    assert (artifacts / "initial.json").is_file() and len(list((artifacts / "front").glob("*.json"))) >= 1
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["optimizer"] == name and config["config"] == small_config(name).to_dict()

    again = await run(server, tmp_path, name, run_name="again")  # its own cache: every call made again
    assert decisions(tmp_path / "again") == decisions(tmp_path / "run")
    assert again.population == result.population


@pytest.mark.asyncio
async def test_opro_shows_the_best_scored_instructions_in_ascending_order(server_factory, tmp_path):
    log = MetaLog()
    server = server_factory(policy=log)
    config = small_config("opro", max_shown=3, proposals=5)
    await run(server, tmp_path, "opro", config=config, generations=2)
    events = journal(tmp_path / "run")
    scores = full_scores(events)
    text = {e["candidate"]: e["prompt"]["instruction"] for e in events if e["event"] == "candidate"}
    steps = [e for e in events if e["event"] == "meta_prompt"]
    assert len(steps) == 2
    proposals = [e for e in events if e["event"] == "proposals"]
    assert [e["asked"] for e in proposals] == [5, 5]
    for step, asked in zip(steps, proposals):
        prompts = [p for p in log.prompts if all(text[c] in p for c in step["shown"])]
        # one meta-prompt per step, sampled `proposals` times, plus one retry per proposal that
        # repeated a known instruction (the scripted meta keeps feature words, so some do): the
        # retry is the meta-prompt with a note saying what was wrong
        first = [p for p in prompts if "\n\nYour last answer" not in p]
        retries = [p for p in prompts if p not in first]
        assert len(first) == 5 and len(set(first)) == 1 and len(retries) == asked["retried"]
        assert all(r.startswith(first[0] + "\n\nYour last answer ") for r in retries)
        assert sum(asked["rejected"].values()) >= asked["retried"]
        shown = re.findall(r"Instruction:\n(.*)\nScore: (\d+)", prompts[0])
        # the best max_shown of everything scored before this step, lowest score first
        assert [t for t, _ in shown] == [text[c] for c in step["shown"]]
        values = [int(s) for _, s in shown]
        assert values == sorted(values) and len(shown) == 3
        before = [c for c in scores if events.index(next(e for e in events if e.get("candidate") == c)) < step["seq"]]
        assert min(scores[c] for c in step["shown"]) >= sorted((scores[c] for c in before), reverse=True)[2] - 1e-9
        assert prompts[0].count("Expected answer:") == 3  # three task examples
    new = [e for e in events if e["event"] == "candidate" and e["operator"] == "opro"]
    assert 2 <= len(new) <= 10  # up to 5 distinct proposals per step, duplicates dropped


def test_roulette_wheel_picks_in_proportion_to_score():
    assert [roulette_pick([0.5, 0.3, 0.2], u) for u in (0.0, 0.49, 0.5, 0.79, 0.8, 0.99)] == [0, 0, 1, 1, 2, 2]
    assert roulette_pick([0.5, 0.3, 0.2], 0.0, exclude=0) == 1  # the wheel without slot 0
    assert roulette_pick([0.0, 0.0, 0.0, 0.0], 0.6) == 2  # all zero: uniform
    rng = random.Random(1)
    counts = [0, 0, 0]
    for _ in range(6000):
        counts[roulette_pick([0.6, 0.3, 0.1], rng.random())] += 1
    assert [round(c / 6000, 1) for c in counts] == [0.6, 0.3, 0.1]


@pytest.mark.asyncio
async def test_evoprompt_ga_parents_are_distinct_members_drawn_by_score(server_factory, tmp_path):
    server = server_factory(policy=scripted.policy)
    await run(server, tmp_path, "evoprompt-ga", config=small_config("evoprompt-ga", offspring=12), generations=2)
    events = journal(tmp_path / "run")
    population = [e["candidates"] for e in events if e["event"] in ("initial_population", "survivors")]
    parents = [e["pairs"] for e in events if e["event"] == "parents"]
    assert len(parents) == 2 and all(len(p) == 12 for p in parents)
    scores = full_scores(events)
    for members, pairs in zip(population, parents):
        assert all(a != b and a in members and b in members for a, b in pairs)
    # the initial population scores ~0.3 (two members), ~0.6 and ~0.6: the two one-feature
    # members, about two thirds of the wheel, are drawn far more often than the others
    members, pairs = population[0], parents[0]
    strong = sorted(members, key=lambda c: scores[c])[2:]
    picks = [c for pair in pairs for c in pair]
    assert sum(c in strong for c in picks) > sum(c not in strong for c in picks)


@pytest.mark.asyncio
async def test_evoprompt_de_combines_two_donors_the_best_and_the_current(server_factory, tmp_path):
    log = MetaLog()
    server = server_factory(policy=log)
    await run(server, tmp_path, "evoprompt-de", generations=2)
    events = journal(tmp_path / "run")
    scores = full_scores(events)
    text = {e["candidate"]: e["prompt"]["instruction"] for e in events if e["event"] == "candidate"}
    populations = [e["candidates"] for e in events if e["event"] in ("initial_population", "survivors")]
    de_prompts = [p for p in log.prompts if "Donor instruction A:" in p]
    retried = [e["retried"] for e in events if e["event"] == "proposals"]
    # one trial per member (4) and generation (2), plus a retry for each rejected first answer
    assert len(de_prompts) == 8 + sum(retried)
    starts = [0, 4 + retried[0]]
    for generation, members in enumerate(populations[:2]):
        ranked = sorted(members, key=lambda c: -scores[c])
        first = de_prompts[starts[generation]:][:4]
        for prompt in first:
            parts = dict(re.findall(r"(Donor instruction A|Donor instruction B|Best instruction so far|"
                                    r"Current instruction):\n(.*)", prompt))
            a, b, best, current = (parts[k] for k in ("Donor instruction A", "Donor instruction B",
                                                      "Best instruction so far", "Current instruction"))
            assert best == text[ranked[0]] and len({a, b, current}) == 3
            assert {a, b, current} <= {text[c] for c in members}
        currents = [re.search(r"Current instruction:\n(.*)", p).group(1) for p in first]
        assert sorted(currents) == sorted(text[c] for c in members)  # every member is a current once
    replacements = [e for e in events if e["event"] == "replacement"]
    assert replacements and all(new > old for old, new in (e["scores"] for e in replacements))


@pytest.mark.asyncio
async def test_initial_scores_the_initial_prompts_and_does_not_search(server_factory, tmp_path):
    server = server_factory(policy=scripted.policy)
    result = await run(server, tmp_path, "initial", generations=10)
    assert result.generations == 0 and result.stop_reason.startswith("no search")
    assert [result.candidates[c].prompt.instruction for c in result.candidates] == list(scripted.INITIAL)
    scores = full_scores(journal(tmp_path / "run"))
    assert result.best_id == result.best_initial_id == max(scores, key=scores.get)
    assert "meta" not in result.spend or result.spend["meta"].requests == 0  # four prompts given: no meta call
    assert result.spend["downstream"].requests == 4 * 40


@pytest.mark.asyncio
async def test_config_must_match_the_optimizer(server_factory, tmp_path):
    server = server_factory(policy=scripted.policy)
    with pytest.raises(TypeError, match="'opro' takes a OPROConfig, got a CAPOConfig"):
        await run(server, tmp_path, "opro", config=CAPOConfig())
    with pytest.raises(ValueError, match="--max-shots does not apply to optimizer 'opro'"):
        config_from_options("opro", max_shots=2)
    assert config_from_options("opro", offspring=5, max_tokens=9).proposals == 5
    capped = config_from_options("evoprompt-de", meta_max_tokens=100, max_tokens=9)
    assert (capped.meta_sampling.max_tokens, capped.sampling.max_tokens) == (100, 9)
    assert capped.meta_sampling.temperature == EvoPromptDEConfig().meta_sampling.temperature
    assert config_from_options("mpo", meta_max_tokens=70).search.meta_sampling.max_tokens == 70
    assert config_from_options("evoprompt-ga", offspring=5, dev_size=7).offspring == 5
    with pytest.raises(ValueError, match="--offspring does not apply to optimizer 'evoprompt-de'"):
        config_from_options("evoprompt-de", offspring=5)
    with pytest.raises(ValueError, match="population must be an integer from 3 to 1,000, got 2"):
        EvoPromptDEConfig(population=2)
    for config in (OPROConfig(max_shown=5), EvoPromptGAConfig(offspring=3), EvoPromptDEConfig()):
        assert type(config).from_dict(config.to_dict()) == config


def test_cli_refuses_an_option_the_optimizer_does_not_have(run_cli, home):
    refused = run_cli("optimize", "--task", "demo_sentiment", "--optimizer", "opro", "--max-shots", "2", env=home)
    assert refused.returncode == 2 and "--max-shots does not apply to optimizer 'opro'" in refused.stderr
    small = run_cli("optimize", "--task", "demo_sentiment", "--optimizer", "evoprompt-de", "--population", "2", env=home)
    assert small.returncode == 2 and "population must be an integer from 3 to 1,000, got 2" in small.stderr


def _tokens(usage):
    return sum(row["prompt_tokens"] + row["completion_tokens"] for row in usage.values())


@pytest.mark.asyncio
@pytest.mark.parametrize("name", SEARCHERS)
async def test_a_step_asks_only_for_the_new_prompts_the_budget_left_can_score(server_factory, tmp_path, name):
    server = server_factory(policy=scripted.policy)
    await run(server, tmp_path, name, run_name="free", generations=2)
    free = journal(tmp_path / "free")
    notes: dict[int, dict] = {}  # the spend at the end of each generation: its first note
    for e in free:
        if e["event"] == "spend" and e.get("note"):
            notes.setdefault(e["generation"], e["usage"])
    asked = [e["asked"] for e in free if e["event"] == "proposals"]
    wanted = asked[-1]
    assert wanted >= 4
    # room for half of what the second step spent without a limit
    step = _tokens(notes[2]) - _tokens(notes[1])
    limit = _tokens(notes[1]) + step // 2

    async def limited(tokens, resume=False):
        return await aoptimize(
            scripted.make_task(), optimizer=name, model=f"openai:test-model@{server.base_url}",
            budget=Budget.from_options(tokens=tokens, generations=4), seed=7, config=small_config(name),
            initial_prompts=scripted.INITIAL, run_dir=tmp_path / "cut", resume=resume,
            cache=ResponseCache(tmp_path / "cut.sqlite3"),
        )

    result = await limited(limit)
    events = journal(tmp_path / "cut")
    cuts = [e for e in events if e["event"] == "budget_cut"]
    assert cuts and cuts[0]["generation"] == 2 and cuts[0]["wanted"] == wanted and 1 <= cuts[0]["asked"] < wanted
    assert [e["asked"] for e in events if e["event"] == "proposals"][1] == cuts[0]["asked"]
    # no meta answer was paid for and left unscored: every candidate has every dev block
    blocks = {}
    for e in events:
        if e["event"] == "evaluation":
            for cid in e["scores"]:
                blocks[cid] = blocks.get(cid, 0) + 1
    assert set(blocks) == set(result.candidates) and set(blocks.values()) == {2}
    assert "budget" in result.stop_reason
    assert _tokens({r: vars(u) for r, u in result.spend.items()}) <= limit + step // 2

    # a resume with a raised budget re-derives the cut step from the journal, then goes on
    more = await limited(limit * 3, resume=True)
    again = journal(tmp_path / "cut")
    assert [e for e in again if e["event"] == "budget_cut"][0] == cuts[0]
    assert len(more.candidates) > len(result.candidates)
