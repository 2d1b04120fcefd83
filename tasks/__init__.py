"""Task definitions, registry, loaders, answer parsers and metrics.

Installed as ``promptopt.tasks``; import it only under that name::

    from promptopt.tasks import load_task
    task = load_task("sst2", data_dir="../shared/data")   # or PROMPTOPT_DATA_DIR
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptopt._lazy import lazy_exports

__all__ = [
    "DEMO_TASKS",
    "DataError",
    "Example",
    "ParsedAnswer",
    "Splits",
    "Task",
    "TaskInfo",
    "list_tasks",
    "load_examples",
    "load_task",
    "load_task_from_file",
    "parser_from_spec",
    "metric_from_name",
]

_WHERE = {
    "DEMO_TASKS": "promptopt.tasks.demo",
    "DataError": "promptopt.tasks.loaders",
    "load_examples": "promptopt.tasks.loaders",
    "Example": "promptopt.tasks.records",
    "ParsedAnswer": "promptopt.tasks.records",
    "Splits": "promptopt.tasks.records",
    "Task": "promptopt.tasks.task",
    "TaskInfo": "promptopt.tasks.registry",
    "list_tasks": "promptopt.tasks.registry",
    "load_task": "promptopt.tasks.registry",
    "load_task_from_file": "promptopt.tasks.registry",
    "parser_from_spec": "promptopt.tasks.parsers",
    "metric_from_name": "promptopt.tasks.metrics",
}

if TYPE_CHECKING:
    from promptopt.tasks.demo import DEMO_TASKS
    from promptopt.tasks.loaders import DataError, load_examples
    from promptopt.tasks.metrics import metric_from_name
    from promptopt.tasks.parsers import parser_from_spec
    from promptopt.tasks.records import Example, ParsedAnswer, Splits
    from promptopt.tasks.registry import TaskInfo, list_tasks, load_task, load_task_from_file
    from promptopt.tasks.task import Task


__getattr__ = lazy_exports(__name__, _WHERE)
