"""The CLI's shape (issue 15): no command function takes more than 12 parameters of its own, each
option is declared once (a flag with several meanings is listed with them), and option groups
spread into flags and come back as records."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Annotated, Any, Iterator, Optional

import pytest
import typer
from typer.testing import CliRunner

from promptopt.cli import app
from promptopt.cli.groups import command, group, own_parameters

CLI = Path(__file__).resolve().parents[2] / "promptopt" / "cli"
#: Flags that mean different things in different commands, each meaning declared once.
SEVERAL_MEANINGS = {
    "--out": {"optimize: the best prompt's artifact", "bench: the output folder", "plan run: the run directory",
              "rubric refine: the final rubric file", "report: the HTML file",
              "eval: the sharded evaluation's folder"},
    "--model": {"a model spec", "cache clear: a cached model identity"},
    "--seed": {"a sampling seed (generate)", "optimize: the run seed", "rubric refine: output sampling"},
    "--agents": {"plan bench: scripted teams", "plan run: one team"},
    "--rounds": {"plan run: discussion rounds", "rubric refine: meta steps"},
}


def commands(group_app: typer.Typer, path: str = "promptopt") -> Iterator[tuple[str, Any]]:
    for info in group_app.registered_commands:
        yield f"{path} {info.name or info.callback.__name__}", info.callback
    for sub in group_app.registered_groups:
        yield from commands(sub.typer_instance, f"{path} {sub.name}")


def test_every_command_takes_at_most_12_parameters_of_its_own():
    found = dict(commands(app))
    assert {"promptopt optimize", "promptopt bench", "promptopt plan run", "promptopt rubric refine"} <= set(found)
    over = {name: own_parameters(callback) for name, callback in found.items() if own_parameters(callback) > 12}
    assert not over, over


def option_declarations() -> dict[str, int]:
    """Flag -> how many ``typer.Option(...)`` calls in the CLI package declare it."""
    counts: dict[str, int] = {}
    for path in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Option":
                flags = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
                flags = [f for f in flags if f.startswith("--")]
                if flags:
                    counts[flags[0]] = counts.get(flags[0], 0) + 1
    return counts


def test_each_option_is_declared_once():
    counts = option_declarations()
    assert counts["--task"] == counts["--json"] == counts["--no-cache"] == counts["--data-dir"] == 1
    repeated = {flag: n for flag, n in counts.items() if n > 1}
    assert set(repeated) <= set(SEVERAL_MEANINGS), repeated
    assert all(n <= len(SEVERAL_MEANINGS[flag]) for flag, n in repeated.items()), repeated


@dataclasses.dataclass(frozen=True)
class _Pair:
    left: int = 1
    right: Optional[str] = None


group(_Pair, {"left": Annotated[int, typer.Option("--left", help="L.")],
              "right": Annotated[Optional[str], typer.Option("--right", help="R.")]}, panel="Pair")


def test_a_group_parameter_becomes_its_flags_and_comes_back_as_the_record():
    seen: list[Any] = []
    demo = typer.Typer()

    @demo.command()
    @command
    def run(pair: _Pair, name: Annotated[str, typer.Option("--name")] = "x") -> None:
        seen.append((pair, name))

    result = CliRunner().invoke(demo, ["--left", "3", "--name", "y"])
    assert result.exit_code == 0, result.output
    assert seen == [(_Pair(left=3, right=None), "y")]
    assert own_parameters(run) == 2
    assert "--right" in CliRunner().invoke(demo, ["--help"]).output


@dataclasses.dataclass(frozen=True)
class _Other:
    left: int = 0


group(_Other, {"left": Annotated[int, typer.Option("--other-left")]})


def test_two_groups_with_one_field_name_are_refused():
    def clash(a: _Pair, b: _Other) -> None: ...

    with pytest.raises(TypeError, match="two groups"):
        command(clash)


def test_a_group_needs_a_flag_for_every_field():
    with pytest.raises(TypeError, match="no flag for"):
        group(_Pair, {"left": Annotated[int, typer.Option("--left")]})
