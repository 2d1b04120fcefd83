"""Layering that used to loop (issue 15): the task layer imports nothing of judging, operators or
optimizers, and the operators nothing of the optimizers or planners that drive them. Checked on
the source with ``ast``, function-level imports included, so a cycle cannot hide behind a late
import. The planning worlds import nothing of the teams that play in them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The installed package of each source folder (pyproject.toml's package-dir).
FOLDERS = {"tasks": "promptopt.tasks", "operators": "promptopt.operators",
           "planners/environments": "promptopt.planners.environments"}
FORBIDDEN = {
    "tasks": ("promptopt.judging", "promptopt.operators", "promptopt.optimizers", "promptopt.planners"),
    "operators": ("promptopt.optimizers", "promptopt.planners"),
    # the worlds know nothing of who plays in them: scripted teams, the LLM teams, the driver
    "planners/environments": ("promptopt.planners.scripted", "promptopt.planners.capo_team", "promptopt.planners.coela",
                              "promptopt.planners.episode", "promptopt.llm", "promptopt.optimizers"),
}


def imported_modules(path: Path, package: str) -> set[str]:
    """Every module ``path`` imports anywhere in its body, relative imports resolved."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_a_lower_layer_imports_nothing_from_the_layers_above(folder):
    offending = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for module in sorted(imported_modules(path, FOLDERS[folder])):
            if module.startswith(FORBIDDEN[folder]):
                offending.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not offending, "\n".join(offending)


def test_judge_scored_tasks_reach_the_registry_through_its_entry_point():
    from promptopt.tasks import list_tasks, load_task
    from promptopt.tasks.registry import provided_tasks

    assert "brief_summary" in provided_tasks()
    assert load_task("brief_summary").name == "brief_summary"
    assert any(info.name == "brief_summary" and info.answer_format == "judge" for info in list_tasks())
