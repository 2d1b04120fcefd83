"""What a judge-scored task declares, and how a task becomes judge-scored.

A task is judge-scored when it carries a judge (the task's ``judge`` hook). Its :class:`JudgeSetup`
says how to build that judge: the initial rubric (default: one item written from the task
description), a frozen validation rubric (the held-out evaluator and the anchors' grader),
whether the judge sees the references, the guards' bounds and language, and the anchors for the
acceptance gate. A judge-scored task provider (an entry point of the ``promptopt.tasks`` group with
``answer_format="judge"``, such as those of :mod:`promptopt.judging.builtin`) declares its setup
with ``setup()``; any other task gets the default setup.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Sequence

from promptopt.judging.gate import Anchor
from promptopt.judging.guards import GuardConfig
from promptopt.judging.judge import RubricJudge
from promptopt.judging.rubric import Rubric
from promptopt.llm.client import LLMClient
from promptopt.llm.records import Sampling
from promptopt.tasks.registry import provided_tasks

if TYPE_CHECKING:
    from promptopt.tasks.records import Example
    from promptopt.tasks.task import Task

__all__ = ["JudgeSetup", "build_judge", "judge_setup_for", "judged_task", "reference_anchors"]


@dataclass(frozen=True)
class JudgeSetup:
    """How a task is judged (see the module docstring)."""

    initial_rubric: Rubric | None = None
    validation_rubric: Rubric | None = None
    guards: GuardConfig = GuardConfig()
    use_references: bool = False
    #: Graded anchors for the gate, built from the task's dev examples.
    anchors: Callable[[Task, Sequence[Example]], list[Anchor]] | None = None

    def rubric_for(self, task: Task) -> Rubric:
        return self.initial_rubric or Rubric.from_description(task.description)


def judge_setup_for(task: Task) -> JudgeSetup:
    """The setup its judge-scored provider declares, else the default one.

    Found through the task registry, not by importing the providers: they build a JudgeSetup, so
    they depend on this module and not the other way round.
    """
    provider = provided_tasks().get(task.name)
    if provider is not None and provider.answer_format == "judge" and callable(getattr(provider, "setup", None)):
        return provider.setup()  # type: ignore[attr-defined,no-any-return]
    return JudgeSetup()


def build_judge(
    task: Task,
    client: LLMClient,
    *,
    setup: JudgeSetup | None = None,
    rubric: Rubric | None = None,
    sampling: Sampling | None = None,
) -> RubricJudge:
    """The rubric judge of ``task`` (initial rubric unless ``rubric`` is given) on ``client``."""
    setup = setup or judge_setup_for(task)
    return RubricJudge(
        client=client,
        rubric=rubric or setup.rubric_for(task),
        task_description=task.description,
        render_input=task.render_input,
        guards=setup.guards,
        use_references=setup.use_references,
        sampling=sampling or Sampling(temperature=0.0, max_tokens=384),
    )


def judged_task(task: Task, judge: RubricJudge) -> Task:
    """``task`` scored by ``judge`` instead of its parser and metric."""
    return replace(task, judge=judge)


def reference_anchors(task: Task, examples: Sequence[Example], limit: int = 4) -> list[Anchor]:
    """Anchors for a task whose examples have references: each reference (grade 1) and another
    example's reference (a fluent answer to the wrong input, grade 0)."""
    usable = [e for e in examples if e.target.strip()][: max(2, limit)]
    anchors: list[Anchor] = []
    for index, example in enumerate(usable):
        other = usable[(index + 1) % len(usable)]
        if other.target.strip() == example.target.strip():
            continue
        anchors.append(Anchor(example, example.target, 1.0, "reference"))
        anchors.append(Anchor(example, other.target, 0.0, "reference of another input"))
    return anchors
