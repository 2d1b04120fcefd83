"""Judge-scored tasks: rubrics, the rubric judge, guards, canaries, the acceptance gate, meta steps.

The pieces of MPO (an evolving judge rubric the optimizer cannot game), usable on their own::

    from promptopt.judging import Rubric, build_judge, judged_task
    judge = build_judge(task, client)          # the task's initial rubric, guards, references
    scored = judged_task(task, judge)          # evaluate()/any optimizer now uses the judge

Public names load lazily, so importing the package (the CLI does) costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptopt._lazy import lazy_exports

__all__ = [
    "Anchor",
    "Canary",
    "GateConfig",
    "GateDecision",
    "GuardConfig",
    "ItemScore",
    "JudgeSetup",
    "JudgedOutput",
    "MetaStepResult",
    "RefineConfig",
    "Rubric",
    "RubricError",
    "RubricItem",
    "RubricJudge",
    "RubricRefiner",
    "Verdict",
    "build_canaries",
    "build_judge",
    "check_output",
    "judge_setup_for",
    "judged_task",
    "parse_rubric_text",
    "rank_agreement",
    "refine_from_outputs",
    "run_gate",
    "sample_for_analysis",
]

_WHERE = {
    "Anchor": "promptopt.judging.gate",
    "GateConfig": "promptopt.judging.gate",
    "GateDecision": "promptopt.judging.gate",
    "rank_agreement": "promptopt.judging.gate",
    "run_gate": "promptopt.judging.gate",
    "Canary": "promptopt.judging.canaries",
    "build_canaries": "promptopt.judging.canaries",
    "GuardConfig": "promptopt.judging.guards",
    "check_output": "promptopt.judging.guards",
    "ItemScore": "promptopt.judging.judge",
    "RubricJudge": "promptopt.judging.judge",
    "Verdict": "promptopt.judging.judge",
    "JudgeSetup": "promptopt.judging.judge_setup",
    "build_judge": "promptopt.judging.judge_setup",
    "judge_setup_for": "promptopt.judging.judge_setup",
    "judged_task": "promptopt.judging.judge_setup",
    "JudgedOutput": "promptopt.judging.refine",
    "MetaStepResult": "promptopt.judging.refine",
    "RefineConfig": "promptopt.judging.refine",
    "RubricRefiner": "promptopt.judging.refine",
    "sample_for_analysis": "promptopt.judging.refine",
    "Rubric": "promptopt.judging.rubric",
    "RubricError": "promptopt.judging.rubric",
    "RubricItem": "promptopt.judging.rubric",
    "parse_rubric_text": "promptopt.judging.rubric",
    "refine_from_outputs": "promptopt.judging.refine_outputs",
}

if TYPE_CHECKING:
    from promptopt.judging.canaries import Canary, build_canaries
    from promptopt.judging.gate import (
        Anchor,
        GateConfig,
        GateDecision,
        rank_agreement,
        run_gate,
    )
    from promptopt.judging.guards import GuardConfig, check_output
    from promptopt.judging.judge import ItemScore, RubricJudge, Verdict
    from promptopt.judging.refine import (
        JudgedOutput,
        MetaStepResult,
        RefineConfig,
        RubricRefiner,
        sample_for_analysis,
    )
    from promptopt.judging.refine_outputs import refine_from_outputs
    from promptopt.judging.rubric import (
        Rubric,
        RubricError,
        RubricItem,
        parse_rubric_text,
    )
    from promptopt.judging.judge_setup import (
        JudgeSetup,
        build_judge,
        judge_setup_for,
        judged_task,
    )


__getattr__ = lazy_exports(__name__, _WHERE)
