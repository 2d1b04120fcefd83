"""Task definitions, registry, loaders, answer parsers and metrics.

Installed as ``promptopt.tasks``; import it only under that name::

    from promptopt.tasks import load_task
    task = load_task("sst2", data_dir="../shared/data")   # or PROMPTOPT_DATA_DIR
"""

from __future__ import annotations

from promptopt._lazy import exported_names, lazy_exports

_WHERE = {
    "promptopt.tasks.demo": ("DEMO_TASKS",),
    "promptopt.tasks.loaders": ("DataError", "load_examples"),
    "promptopt.tasks.metrics": ("metric_from_name",),
    "promptopt.tasks.parsers": ("parser_from_spec",),
    "promptopt.tasks.records": ("Example", "ParsedAnswer", "Splits"),
    "promptopt.tasks.registry": ("TaskInfo", "list_tasks", "load_task", "load_task_from_file"),
    "promptopt.tasks.task": ("Task",),
}

__all__ = exported_names(_WHERE)
__getattr__ = lazy_exports(__name__, _WHERE)
