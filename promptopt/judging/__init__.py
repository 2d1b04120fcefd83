"""Judge-scored tasks: rubrics, the rubric judge, guards, canaries, the acceptance gate.

The pieces of MPO (an evolving judge rubric the optimizer cannot game), usable on their own::

    from promptopt.judging import Rubric, build_judge, judged_task
    judge = build_judge(task, client)          # the task's initial rubric, guards, references
    scored = judged_task(task, judge)          # evaluate()/any optimizer now uses the judge

The meta step that drives the rubric operators and the gate sits above both, in
:mod:`promptopt.optimizers.rubric_step`. Public names load lazily, so importing the package (the
CLI does) costs nothing.
"""

from __future__ import annotations

from promptopt._lazy import exported_names, lazy_exports

_WHERE = {
    "promptopt.judging.canaries": ("Canary", "build_canaries"),
    "promptopt.judging.gate": ("Anchor", "GateConfig", "GateDecision", "rank_agreement", "run_gate"),
    "promptopt.judging.guards": ("GuardConfig", "check_output"),
    "promptopt.judging.judge": ("ItemScore", "RubricJudge", "Verdict"),
    "promptopt.judging.judge_setup": ("JudgeSetup", "build_judge", "judge_setup_for", "judged_task"),
    "promptopt.judging.rubric": ("Rubric", "RubricError", "RubricItem", "parse_rubric_text"),
}

__all__ = exported_names(_WHERE)
__getattr__ = lazy_exports(__name__, _WHERE)
