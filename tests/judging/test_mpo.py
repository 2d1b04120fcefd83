"""MPO end to end on the loopback server with the scripted brief_summary world (see world.py)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import world
from promptopt.judging import brief_summary

from promptopt.budget import Budget
from promptopt.evaluation import evaluate
from promptopt.judging.gate import GateConfig
from promptopt.optimizers.rubric_step import JudgedOutput, RefineConfig, RubricRefiner
from promptopt.judging.judge_setup import build_judge
from promptopt.llm.cache import ResponseCache
from promptopt.llm.records import Sampling
from promptopt.optimizers.capo import CAPOConfig
from promptopt.optimization import aoptimize
from promptopt.optimizers.mpo import MPOConfig

SEARCH = CAPOConfig(
    population=4, offspring=4, block_size=6, max_blocks=3, dev_size=40, max_shots=0,
    sampling=Sampling(max_tokens=96), meta_sampling=Sampling(temperature=0.7, max_tokens=64),
)


async def run_mpo(server, tmp_path, *, evolve=True, name="run", generations=4):
    return await aoptimize(
        brief_summary.load(), optimizer="mpo", model=f"openai:test-model@{server.base_url}",
        budget=Budget.from_options(generations=generations), seed=3,
        config=MPOConfig(search=SEARCH, evolve=evolve), initial_prompts=world.INITIAL,
        run_dir=tmp_path / name, cache=ResponseCache(tmp_path / f"{name}.sqlite3"),
    )


def journal(path):
    return [json.loads(line) for line in (path / "journal.jsonl").read_text().splitlines()]


async def reference_score(server, client_for, instruction_prompt) -> float:
    """The held-out truth: the reference check (<= 20 words, names the place) on the test split."""
    task = brief_summary.load()
    [result] = await evaluate([instruction_prompt], task.test, task, client_for(server))
    return result.estimate.value


async def test_fixed_rubric_is_hacked_and_the_evolving_rubric_is_not(server_factory, client_for, tmp_path):
    server = server_factory(policy=world.make_policy())
    fixed = await run_mpo(server, tmp_path, evolve=False, name="fixed")
    evolving = await run_mpo(server, tmp_path, evolve=True, name="evolving")

    # the fixed rubric ends with the padding hack: full judge marks, fails the real requirement
    assert "DETAIL" in fixed.best.instruction, fixed.best.instruction
    assert fixed.best_score.value >= 0.9 and fixed.rubric_versions == (1,)
    fixed_truth = await reference_score(server, client_for, fixed.best)
    # the evolving rubric closed the hack and ended with a prompt that does the task
    assert "DETAIL" not in evolving.best.instruction and "BRIEF" in evolving.best.instruction
    assert evolving.rubric_versions == (1, 2)
    evolving_truth = await reference_score(server, client_for, evolving.best)
    print(f"held-out reference check: fixed {fixed_truth:.2f}, evolving {evolving_truth:.2f}")
    assert evolving_truth > fixed_truth
    assert evolving_truth == 1.0 and fixed_truth == 0.0
    # the final choice was made by the held-out evaluator (frozen validation rubric), journaled
    heldout = [e for e in journal(tmp_path / "evolving") if e["event"] == "heldout_ranking"]
    assert heldout and heldout[0]["evaluator"] == "validation rubric"
    assert heldout[0]["candidates"][0] == evolving.best_id


async def test_an_accepted_rubric_rescores_before_selection_and_scores_carry_versions(server_factory, tmp_path):
    server = server_factory(policy=world.make_policy())
    result = await run_mpo(server, tmp_path, generations=2)
    events = journal(tmp_path / "run")
    kinds = [e["event"] for e in events]
    accepted = kinds.index("rubric_accepted")
    # re-scored after the change and before the next selection (the race's "survivors")
    rescore = kinds.index("rescore", accepted)
    assert rescore < kinds.index("survivors", accepted)
    rescored = events[rescore]
    assert rescored["rubric_version"] == 2
    assert result.best_initial_id in rescored["candidates"]  # the elite archive too
    # between the change and the re-score, only evaluation batches of the re-scored members
    between = events[accepted + 1 : rescore]
    assert between and all(e["event"] == "evaluation" and set(e["scores"]) <= set(rescored["candidates"]) for e in between)
    # every event that holds a score names its rubric version, and the version in force
    version = 1
    for event in events:
        if event["event"] == "rubric_accepted":
            version = event["candidate"]["version"]
        if any("score" in key for key in event) or "canaries" in event:
            assert "rubric_version" in event, event["event"]
            if event["event"] not in ("rubric_accepted", "rubric_refused", "rubric_unchanged"):
                assert event["rubric_version"] == version, event
    # both versions are stored in the run directory, and the accepted one rejects every canary
    stored = sorted(p.name for p in (tmp_path / "run" / "rubrics").glob("v*.json"))
    assert stored == ["v001.json", "v002.json"]
    gate = events[accepted]["gate"]
    assert gate["accepted"] and all(c["passed"] for c in gate["checks"])
    assert max(events[accepted]["canaries"].values()) <= GateConfig().canary_threshold
    best = json.loads((tmp_path / "run" / "artifacts" / "best.json").read_text())
    assert [(r["split"], r["metric"]) for r in best["scores"]] == [
        ("dev", "judge rubric v2"), ("dev-heldout", "held-out: validation rubric")]
    audit = next(e for e in events if e["event"] == "rubric_audit")
    assert audit["version"] == 1 and audit["canaries"]["padding"] == 1.0 and not audit["canaries_pass"]


async def test_a_rubric_that_breaks_the_gate_is_refused_and_the_old_one_kept(server_factory, tmp_path):
    server = server_factory(policy=world.make_policy(world.KEEPS_LENGTH_ITEMS))
    result = await run_mpo(server, tmp_path, generations=3)
    events = journal(tmp_path / "run")
    refused = [e for e in events if e["event"] == "rubric_refused"]
    assert refused and not any(e["event"] in ("rubric_accepted", "rescore") for e in events)
    canaries = next(c for c in refused[0]["gate"]["checks"] if c["name"] == "canaries")
    assert not canaries["passed"] and "padding" in canaries["detail"]  # the length canary gets through
    assert result.rubric_versions == (1,) and result.rubric.version == 1
    assert all(e.get("rubric_version", 1) == 1 for e in events if "scores" in e)
    assert (tmp_path / "run" / "rubrics" / "refused" / "v002.json").is_file()
    assert "DETAIL" in result.best.instruction  # with the old rubric kept, the hack stays


async def test_the_gate_refuses_shape_and_leakage_before_any_judge_call(server_factory, client_for):
    task = brief_summary.load()
    setup = brief_summary.setup()
    example = task.dev[5]
    padded = brief_summary.padded_answer(brief_summary.passage_parts(task.render_input(example)))
    for items, check in ((world.TWO_ITEMS, "shape"), (world.leaky_items(task), "leakage")):
        server = server_factory(policy=world.make_policy(items))
        judge = build_judge(task, client_for(server, role="judge"), setup=setup)
        [verdict] = await judge.verdicts([padded], [example])
        refiner = RubricRefiner(client_for(server, role="meta_judge"), task, setup=setup, dev=task.dev,
                                anchors=setup.anchors(task, task.dev), config=RefineConfig(samples=1))
        step = await refiner.step(judge, [JudgedOutput("p", example, padded, verdict)])
        assert step.outcome == "refused" and step.after is judge.rubric
        failed = {c.name for c in step.decision.checks if not c.passed and not c.skipped}
        assert failed == {check}
        assert step.canary_rewards == {}  # the LLM checks were skipped


@pytest.mark.parametrize("merge_answer", [
    "The merged rubric keeps brevity and names the subject, with no padding.",
    '<rubric>{"items": [{"name": "summary", "description": "detailed and thorough", "max": 20}]}</rubric>',
], ids=["prose", "one-item"])
async def test_an_unusable_merge_gates_the_first_proposal_unmerged(server_factory, client_for, merge_answer):
    # Qwen2.5-Coder-0.5B answered the merge request in prose, or merged into a single item; its
    # refinements had parsed
    task = brief_summary.load()
    setup = brief_summary.setup()
    example = task.dev[5]
    padded = brief_summary.padded_answer(brief_summary.passage_parts(task.render_input(example)))
    scripted = world.make_policy()
    merges: list[int] = []

    def policy(request):
        first_user = next(c for r, c in request.messages if r == "user")
        if first_user.startswith("You keep the grading rubric"):
            merges.append(len(request.messages))
            return merge_answer
        return scripted(request)

    server = server_factory(policy=policy)
    judge = build_judge(task, client_for(server, role="judge"), setup=setup)
    [verdict] = await judge.verdicts([padded], [example])
    refiner = RubricRefiner(client_for(server, role="meta_judge"), task, setup=setup, dev=task.dev,
                            anchors=setup.anchors(task, task.dev), config=RefineConfig(samples=1))
    step = await refiner.step(judge, [JudgedOutput("p", example, padded, verdict)])
    assert merges == [2, 4]  # asked, then retried once in the same conversation
    assert step.outcome == "accepted", (step.outcome, step.detail)
    assert step.detail.startswith("merge failed (") and "proposal 1, unmerged" in step.detail
    assert step.after.origin == "refinement" and step.after.names == tuple(i["name"] for i in world.GOOD_ITEMS)


async def test_rubric_refine_cli_improves_a_rubric_from_outputs(server_factory, run_cli, home, tmp_path):
    server = server_factory(policy=world.make_policy())
    task = brief_summary.load()
    rows = []
    for example in task.dev[8:14]:
        parts = brief_summary.passage_parts(task.render_input(example))
        for prompt, output in (("detail", brief_summary.padded_answer(parts)), ("brief", brief_summary.brief_answer(parts))):
            rows.append({"uid": example.uid, "output": output, "prompt": prompt})
    outputs = tmp_path / "outputs.jsonl"
    outputs.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "rubric.json"
    model = f"openai:test-model@{server.base_url}"
    done = run_cli("rubric", "refine", "--task", "brief_summary", "--outputs", str(outputs), "--model", model,
                   "--no-cache", "--out", str(out), "--run-dir", str(tmp_path / "refine"), "--json", env=home)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert [s["outcome"] for s in summary["steps"]] == ["accepted"]
    assert json.loads(out.read_text())["version"] == 2
    assert (tmp_path / "refine" / "rubrics" / "v002.json").is_file()
    # under the new rubric the padded outputs lose: the mean reward is the brief outputs' share
    assert summary["steps"][0]["mean_reward"] > 0.55 and summary["final_mean_reward"] < 0.85

    outputs.write_text('{"uid": "brief_summary:1", "output": "x"}\n{"uid": "nope", "output": "y"}\n')
    bad = run_cli("rubric", "refine", "--task", "brief_summary", "--outputs", str(outputs), "--model", model,
                  "--no-cache", env=home)
    assert bad.returncode == 2
    assert f"{outputs}:2: field 'uid'" in bad.stderr


async def test_a_resumed_run_replays_its_meta_steps_and_continues(server_factory, tmp_path):
    server = server_factory(policy=world.make_policy())
    first = await run_mpo(server, tmp_path, generations=2)
    stored = journal(tmp_path / "run")
    resumed = await aoptimize(
        brief_summary.load(), optimizer="mpo", model=f"openai:test-model@{server.base_url}",
        budget=Budget.from_options(generations=3), seed=3, config=MPOConfig(search=SEARCH),
        initial_prompts=world.INITIAL, run_dir=tmp_path / "run", resume=True,
        cache=ResponseCache(tmp_path / "run.sqlite3"),
    )
    events = journal(tmp_path / "run")
    stop = next(i for i, e in enumerate(stored) if e["event"] == "stop")
    # everything before the old stop was re-derived and matched (a mismatch raises), not re-written
    assert events[:stop] == stored[:stop]
    assert [e["event"] for e in events].count("rubric_accepted") == 1
    assert sum(e["event"] == "generation" for e in events) == 3 and resumed.generations == 3
    assert resumed.rubric_versions == first.rubric_versions == (1, 2)


async def test_any_optimizer_runs_against_the_evolving_rubric(server_factory, client_for, tmp_path):
    from promptopt.optimizers.mpo import with_evolving_rubric
    from promptopt.optimizers.opro import OPRO, OPROConfig
    from promptopt.runs import RunDir

    server = server_factory(policy=world.make_policy())
    downstream = client_for(server)
    search = OPROConfig(population=4, dev_size=40, block_size=8, proposals=2, examples_shown=1,
                        sampling=Sampling(max_tokens=96), meta_sampling=Sampling(temperature=1.0, max_tokens=64))
    optimizer = with_evolving_rubric(OPRO)(
        brief_summary.load(), downstream, downstream.with_role("meta"), config=MPOConfig(search=search),
        initial_prompts=world.INITIAL, budget=Budget.from_options(generations=2), seed=5,
        run_dir=RunDir(tmp_path / "opro"),
    )
    result = await optimizer.run()
    events = journal(tmp_path / "opro")
    assert result.optimizer == "mpo-opro" and result.rubric_versions == (1, 2)
    assert "rescore" in [e["event"] for e in events]
    assert "DETAIL" not in result.best.instruction


async def test_without_anchors_a_frozen_validation_judge_grades_the_samples(server_factory, client_for):
    task = brief_summary.load()
    setup = brief_summary.setup()
    server = server_factory(policy=world.make_policy())
    judge = build_judge(task, client_for(server, role="judge"), setup=setup)
    samples = []
    for example in task.dev[6:9]:
        parts = brief_summary.passage_parts(task.render_input(example))
        for name, output in (("padded", brief_summary.padded_answer(parts)), ("brief", brief_summary.brief_answer(parts))):
            [verdict] = await judge.verdicts([output], [example])
            samples.append(JudgedOutput(f"{name}{example.uid}", example, output, verdict))
    meta = client_for(server, role="meta_judge")
    validation = replace(judge.with_rubric(setup.validation_rubric), memo={})
    blind = RubricRefiner(meta, task, setup=setup, dev=task.dev, anchors=(), config=RefineConfig(samples=4))
    refused = await blind.step(judge, samples)
    assert refused.outcome == "refused" and "no anchors" in refused.detail
    graded = RubricRefiner(meta, task, setup=setup, dev=task.dev, anchors=(), config=RefineConfig(samples=4),
                           validation_judge=validation)
    accepted = await graded.step(judge, samples)
    agreement = accepted.decision.check("anchors")
    assert accepted.outcome == "accepted" and agreement.value == 1.0 and "vs current 0.0" in agreement.detail


async def test_optimize_cli_runs_mpo_and_reports_the_rubric_story(server_factory, run_cli, home, tmp_path):
    server = server_factory(policy=world.make_policy())
    model = f"openai:test-model@{server.base_url}"
    flags = ["--population", "4", "--offspring", "4", "--block-size", "6", "--max-blocks", "3", "--dev-size", "40",
             "--max-shots", "0", "--max-tokens", "96", "--max-generations", "3", "--seed", "3", "--no-cache"]
    prompts = [arg for p in world.INITIAL for arg in ("--prompt", p)]
    done = run_cli("optimize", "--task", "brief_summary", "--optimizer", "mpo", "--model", model, *flags, *prompts,
                   "--run-dir", str(tmp_path / "run"), "--json", env=home)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["optimizer"] == "mpo"
    assert summary["rubric"]["versions"] == [1, 2] and "BRIEF" in summary["best"]["instruction"]
    assert summary["heldout"]["evaluator"] and summary["heldout"]["scores"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["judge_models"]["judge"] == model

    misplaced = run_cli("optimize", "--task", "brief_summary", "--judge-model", model, env=home)
    assert misplaced.returncode == 2 and "--judge-model" in misplaced.stderr
