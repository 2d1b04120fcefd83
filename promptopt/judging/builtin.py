"""promptopt's own judge-scored tasks, offered to the task registry as providers.

The task layer knows nothing of judging: these tasks reach ``promptopt.tasks.load_task`` and
``promptopt tasks`` through the ``promptopt.tasks`` entry-point group (declared in pyproject.toml),
the same way a plugin package adds its tasks. A judge-scored task still has a metric (a
reference check), so held-out scores need no judge; :meth:`JudgedTask.setup` says how the
optimizer's judge is built (``judge_setup_for`` finds it through the registry too). Loading
imports a task's module only then.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from promptopt.judging.judge_setup import JudgeSetup
    from promptopt.tasks.task import Task

__all__ = ["BRIEF_SUMMARY", "JudgedTask"]


@dataclass(frozen=True)
class JudgedTask:
    """A built-in judge-scored task (a task provider: name, sizes, description, ``load()``)."""

    name: str
    module: str
    description: str
    dev_size: int
    test_size: int
    answer_format: str = "judge"

    def load(self) -> Task:
        return importlib.import_module(self.module).load(self.dev_size, self.test_size)  # type: ignore[no-any-return]

    def setup(self) -> JudgeSetup:
        return importlib.import_module(self.module).setup()  # type: ignore[no-any-return]


BRIEF_SUMMARY = JudgedTask(
    name="brief_summary",
    module="promptopt.judging.brief_summary",
    description="Summarize a passage in one sentence of at most 20 words (judge-scored; "
    "its initial rubric rewards length: a known hack)",
    dev_size=48,
    test_size=24,
)
