"""Built-in judge-scored tasks: their loaders and judge setups, by name.

A judge-scored task still has a metric (a reference check) so that held-out scores need no judge;
its :class:`~promptopt.judging.setup.JudgeSetup` says how the optimizer's judge is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    from promptopt.tasks.task import Task

    from promptopt.judging.setup import JudgeSetup

__all__ = ["JUDGED_TASKS", "JudgedTask"]


@dataclass(frozen=True)
class JudgedTask:
    """A built-in judge-scored task; loading imports its module only then."""

    name: str
    module: str
    description: str
    dev_size: int
    test_size: int

    def _module(self):
        import importlib

        return importlib.import_module(self.module)

    def load(self) -> Task:
        return self._module().load(self.dev_size, self.test_size)

    def setup(self) -> JudgeSetup:
        return self._module().setup()


JUDGED_TASKS: Mapping[str, JudgedTask] = MappingProxyType(
    {
        "brief_summary": JudgedTask(
            name="brief_summary",
            module="promptopt.tasks.brief_summary",
            description="Summarize a passage in one sentence of at most 20 words (judge-scored; "
            "its initial rubric rewards length: a known hack)",
            dev_size=48,
            test_size=24,
        ),
    }
)
