"""Refine a rubric on a fixed set of outputs: judge, meta step, gate, re-judge; no prompt search.

The library side of ``promptopt rubric refine``; it drives the meta step, so it sits with the
optimizers, above judging. Every rubric version (accepted or refused) and every gate decision go
to the run directory when one is given, as in an MPO run.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from promptopt.judging.judge import RubricJudge
from promptopt.judging.judge_setup import build_judge, judge_setup_for, reference_anchors
from promptopt.judging.outputs import OutputRecord, read_outputs
from promptopt.judging.rubric import Rubric, rubric_path
from promptopt.llm.cache import ResponseCache
from promptopt.optimizers.rubric_step import JudgedOutput, RefineConfig, RubricRefiner, sample_for_analysis

if TYPE_CHECKING:
    from promptopt.tasks.task import Task

__all__ = ["refine_from_outputs"]


async def _judge_all(judge: RubricJudge, records: list[OutputRecord]) -> list[JudgedOutput]:
    """Every output judged; not one verdict (the judge's endpoint down, or refusing the key) is an
    error, not a rubric refined on zeros."""
    verdicts = await judge.verdicts(
        [r.output for r in records], [r.example for r in records], prompt_texts=[r.prompt for r in records]
    )
    failed = [v for v in verdicts if v.error is not None and not v.guard]
    if verdicts and len(failed) == len(verdicts):
        from promptopt.llm.failures import RequestsFailed

        raise RequestsFailed(
            f"judging {len(verdicts)} output(s) with {judge.client.endpoint}: every judge call failed "
            f"(first: {failed[0].error})"
        )
    return [
        JudgedOutput(r.prompt or f"line {r.line}", r.example, r.output, v) for r, v in zip(records, verdicts)
    ]


async def refine_from_outputs(
    task: Task,
    outputs: str | Path,
    *,
    start_rubric: str | Path | None = None,
    validation_rubric: str | Path | None = None,
    model: str = "local",
    judge_model: str | None = None,
    meta_judge_model: str | None = None,
    rounds: int = 1,
    samples: int = 6,
    seed: int = 0,
    out: str | Path | None = None,
    run_dir: str | Path | None = None,
    cache: ResponseCache | None | Literal["default"] = "default",
) -> dict[str, Any]:
    """Run ``rounds`` meta steps on the outputs in ``outputs``; returns a JSON-ready summary.
    ``cache`` as for ``connect``: the user's response cache, None for none, or an open one."""
    from promptopt.llm.connection import connect
    from promptopt.runs import RunDir

    if out is not None:
        from promptopt.runs import check_output_file

        check_output_file(out, "--out")
    records = read_outputs(outputs, task)
    setup = judge_setup_for(task)
    start = Rubric.load(start_rubric) if start_rubric is not None else setup.rubric_for(task)
    if cache == "default":
        cache = ResponseCache()
    judge_client = connect(judge_model or model, role="judge", cache=cache, seed=seed)
    meta_spec = meta_judge_model or model
    meta_client = (
        judge_client.with_role("meta_judge")
        if meta_spec == (judge_model or model)
        else connect(meta_spec, role="meta_judge", cache=cache, ledger=judge_client.ledger, seed=seed)
    )
    directory = None
    if run_dir is not None:
        directory = RunDir(run_dir).acquire()
        try:
            directory.ensure_fresh()
        except BaseException:
            directory.release()
            raise
        directory.write_config(
            {
                "command": "rubric refine",
                "task": task.name,
                "outputs": str(outputs),
                "models": {"judge": judge_model or model, "meta_judge": meta_spec},
                "rounds": rounds,
                "samples": samples,
                "seed": seed,
            }
        )
        start.save(_stored_at(directory.path, start))
        directory.record("rubric", version=start.version, rubric=start.to_dict())
    anchors = setup.anchors(task, task.dev) if setup.anchors is not None else reference_anchors(task, task.dev)
    judge = build_judge(task, judge_client, setup=setup, rubric=start)
    frozen = Rubric.load(validation_rubric) if validation_rubric is not None else setup.validation_rubric
    refiner = RubricRefiner(
        meta_client,
        task,
        setup=setup,
        dev=task.dev,
        anchors=anchors,
        config=RefineConfig(samples=samples),
        first_version=start.version + 1,
        validation_judge=None if frozen is None else replace(judge.with_rubric(frozen), memo={}),
    )
    rng = random.Random(seed)
    steps: list[dict[str, Any]] = []
    try:
        judged = await _judge_all(judge, records)
        for number in range(1, rounds + 1):
            mean = sum(j.verdict.reward for j in judged) / len(judged)
            if directory is not None:
                directory.record("judged", round=number, rubric_version=judge.version, mean_score=round(mean, 6),
                                 errors=sum(1 for j in judged if not j.verdict.ok))
            chosen = sample_for_analysis(judged, samples, rng)
            step = await refiner.step(judge, chosen)
            steps.append({"round": number, "mean_reward": mean, **step.to_journal()})
            if directory is not None:
                if step.candidate is not None:
                    target = _stored_at(directory.path, step.candidate)
                    if not step.changed:
                        target = target.parent / "refused" / target.name
                    step.candidate.save(target)
                directory.record(f"rubric_{step.outcome}", round=number, **step.to_journal())
            if step.changed:
                judge = judge.with_rubric(step.after)
                judged = await _judge_all(judge, records)
        final_mean = sum(j.verdict.reward for j in judged) / len(judged)
    finally:
        await judge_client.aclose()
        if meta_client.backend is not judge_client.backend:
            await meta_client.aclose()
        if directory is not None:
            directory.release()
    if out is not None:
        judge.rubric.save(out)
    return {
        "task": task.name,
        "outputs": len(records),
        "steps": steps,
        "final_rubric": judge.rubric.to_dict(),
        "final_mean_reward": final_mean,
        "out": None if out is None else str(out),
        "spend": {role: usage.to_dict() for role, usage in sorted(judge_client.ledger.snapshot().items())},
    }


def _stored_at(directory: Path, rubric: Rubric) -> Path:
    return rubric_path(directory, rubric.version)
