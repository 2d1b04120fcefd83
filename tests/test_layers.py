"""Layering (issue 15), checked on the source with ``ast`` so a cycle cannot hide behind a late
import: no import cycle between modules or between packages; the task layer imports nothing of
judging, operators or optimizers, the operators nothing of the optimizers or planners that drive
them, and the planning worlds nothing of the teams that play in them.

The graph is the tree as pyproject.toml installs it (``package-dir``). An edge is every import
anywhere in a module's body (function-level and ``if TYPE_CHECKING:`` included) and every module
a lazy re-export table names (``_WHERE`` in a package ``__init__``, imported on first access by
promptopt/_lazy.py)."""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Callable, Iterable

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "tasks": ("promptopt.judging", "promptopt.operators", "promptopt.optimizers", "promptopt.planners"),
    "operators": ("promptopt.optimizers", "promptopt.planners"),
    # the worlds know nothing of who plays in them: scripted teams, the LLM teams, the driver
    "planners/environments": ("promptopt.planners.scripted", "promptopt.planners.capo_team", "promptopt.planners.coela",
                              "promptopt.planners.episode", "promptopt.llm", "promptopt.optimizers"),
}


@dataclass(frozen=True)
class Edge:
    """``source`` depends on ``target`` because ``file:line`` imports ``module``."""

    source: str
    target: str
    file: str
    line: int
    module: str

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}  ({self.file}:{self.line} imports {self.module})"


@cache
def source_modules() -> dict[str, Path]:
    """Every module of the installed tree by dotted name, from ``[tool.setuptools] package-dir``."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_dir = pyproject["tool"]["setuptools"]["package-dir"]
    modules: dict[str, Path] = {}
    for package, folder in package_dir.items():
        base = ROOT / folder
        # a folder inside this one mapped to a package of its own is not part of this one
        inner = [ROOT / f for f in package_dir.values() if ROOT / f != base and (ROOT / f).is_relative_to(base)]
        for path in sorted(base.rglob("*.py")):
            if any(path.is_relative_to(i) for i in inner):
                continue
            parts = (package, *path.relative_to(base).with_suffix("").parts)
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            if name in modules:
                pytest.fail(f"{name} is both {modules[name].relative_to(ROOT)} and {path.relative_to(ROOT)}")
            modules[name] = path
    return modules


def _base(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The module ``from ... import`` reads from, a relative import resolved."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    package = package[: len(package) - node.level + 1]
    return ".".join(package + ([node.module] if node.module else []))


def _imports(module: str, path: Path) -> Iterable[tuple[str, int]]:
    """(imported module, line) for every import in ``path``; ``from pkg import name`` imports the
    module ``pkg.name`` when there is one, else ``pkg``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _base(module, path, node)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if full in source_modules() else base), node.lineno
    if path.name == "__init__.py":
        for stmt in tree.body:  # _WHERE = {module: (name, ...)}
            if isinstance(stmt, ast.Assign) and any(getattr(t, "id", None) == "_WHERE" for t in stmt.targets):
                yield from ((key.value, key.lineno) for key in stmt.value.keys if isinstance(key, ast.Constant))


@cache
def import_edges() -> tuple[Edge, ...]:
    """Every import from one module of the tree to another."""
    modules = source_modules()
    return tuple(
        Edge(module, target, str(path.relative_to(ROOT)), line, target)
        for module, path in modules.items()
        for target, line in _imports(module, path)
        if target in modules and target != module
    )


def package_of(module: str) -> str:
    """A package-level node: each subpackage of ``promptopt`` with all below it; each top-level
    module of ``promptopt`` (and ``promptopt`` itself) on its own."""
    first = ".".join(module.split(".")[:2])
    path = source_modules().get(first)
    return first if path is not None and path.name == "__init__.py" else module


def collapse(edges: Iterable[Edge], node_of: Callable[[str], str]) -> list[Edge]:
    """``edges`` between the nodes ``node_of`` maps modules onto, edges inside a node dropped."""
    return [
        Edge(node_of(e.source), node_of(e.target), e.file, e.line, e.module)
        for e in edges
        if node_of(e.source) != node_of(e.target)
    ]


def find_cycle(edges: Iterable[Edge]) -> list[Edge] | None:
    """One cycle as its edges in order, or None: a depth-first search that meets a node still on
    its path."""
    out: dict[str, list[Edge]] = defaultdict(list)
    for edge in edges:
        out[edge.source].append(edge)

    def successors(node: str) -> Iterable[Edge]:
        return iter(sorted(out[node], key=lambda e: (e.target, e.file, e.line)))

    done: set[str] = set()
    for root in sorted(out):
        if root in done:
            continue
        on_path, path, stack = {root}, [], [(root, successors(root))]
        while stack:
            node, pending = stack[-1]
            edge = next(pending, None)
            if edge is None:
                stack.pop()
                on_path.discard(node)
                done.add(node)
                if path:
                    path.pop()
            elif edge.target in on_path:
                cycle = path + [edge]
                return cycle[next(i for i, e in enumerate(cycle) if e.source == edge.target) :]
            elif edge.target not in done:
                on_path.add(edge.target)
                path.append(edge)
                stack.append((edge.target, successors(edge.target)))
    return None


def fail_on(cycle: list[Edge] | None, level: str) -> None:
    if cycle:
        pytest.fail(f"{level} import cycle:\n  " + "\n  ".join(map(str, cycle)), pytrace=False)


def test_no_import_cycle_between_modules():
    fail_on(find_cycle(import_edges()), "module")


def test_no_import_cycle_between_packages():
    fail_on(find_cycle(collapse(import_edges(), package_of)), "package")


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle():
    def edges(*pairs: str) -> list[Edge]:
        return [Edge(p[0], p[1], f"{p[0]}.py", 1, p[1]) for p in pairs]

    assert find_cycle(edges("ab", "bc", "ac", "cd")) is None
    cycle = find_cycle(edges("xa", "ab", "bc", "cd", "ca"))
    assert [(e.source, e.target) for e in cycle] == [("a", "b"), ("b", "c"), ("c", "a")]
    assert find_cycle(collapse(edges("ab", "ba"), lambda node: "p")) is None


def test_the_graph_holds_the_edges_a_cycle_hides_behind():
    found = {(e.source, e.target) for e in import_edges()}
    assert ("promptopt.optimizers.rubric_step", "promptopt.operators.rubric") in found  # a sibling folder
    assert ("promptopt.optimizers.rubric_from_outputs", "promptopt.runs") in found  # function-level
    assert ("promptopt.judging.builtin", "promptopt.judging.judge_setup") in found  # if TYPE_CHECKING:
    assert ("promptopt.llm", "promptopt.llm.client") in found  # a _WHERE table
    assert ("promptopt.planners.scripted", "promptopt.planners.scripted.agents") in found  # relative


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_a_lower_layer_imports_nothing_from_the_layers_above(folder):
    offending = [
        str(e) for e in import_edges() if Path(e.file).is_relative_to(folder) and e.target.startswith(FORBIDDEN[folder])
    ]
    assert not offending, "\n".join(offending)


def test_judge_scored_tasks_reach_the_registry_through_its_entry_point():
    from promptopt.judging.judge_setup import judge_setup_for
    from promptopt.tasks import list_tasks, load_task
    from promptopt.tasks.registry import provided_tasks

    assert "brief_summary" in provided_tasks()
    task = load_task("brief_summary")
    assert task.name == "brief_summary"
    assert any(info.name == "brief_summary" and info.answer_format == "judge" for info in list_tasks())
    # and its judge setup through the same entry point (judging imports none of its providers)
    assert judge_setup_for(task).initial_rubric is not None
