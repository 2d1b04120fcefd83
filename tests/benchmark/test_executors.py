"""``promptopt bench --executor``: the same grid run serially, in worker processes and on a local
Ray instance gives the same table and results (issue 17); without Ray, asking for it is bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import scripted  # noqa: E402  (tests/optimizers is on sys.path through conftest)

GRID = ["bench", "--tasks", "demo_sentiment", "--optimizers", "capo,opro,initial", "--seeds", "1,2",
        "--population", "4", "--offspring", "4", "--dev-size", "16", "--block-size", "4", "--max-tokens", "16",
        "--budget-tokens", "20000", "--json"]


def _comparable(out: Path) -> tuple[list[str], dict]:
    """table.md without its wall-time column; results.json without wall times, the folder name
    and the list of reused cells."""
    table = [line.rsplit("|", 2)[0] for line in (out / "table.md").read_text().splitlines()]
    results = json.loads((out / "results.json").read_text().replace(str(out), "OUT"))
    results.pop("reused")  # which cells this session reused: not the grid's result
    for cell in results["cells"]:
        cell.pop("wall_s")
    for row in results["summary"]:
        for key in [k for k in row if "wall" in k]:
            row.pop(key)
    return table, results


def test_processes_and_ray_run_the_grid_to_the_same_table_and_results(run_cli, server_factory, home, tmp_path):
    server = server_factory(policy=scripted.policy)
    model = ["--model", f"openai:test-model@{server.base_url}"]
    outputs = {}
    for executor in ("serial", "processes:2", "ray"):
        out = tmp_path / executor.replace(":", "-")
        done = run_cli(*GRID, *model, "--executor", executor, "--out", str(out), env=home, timeout=600)
        assert done.returncode == 0, done.stderr
        assert len(json.loads(done.stdout)["cells"]) == 6
        outputs[executor] = _comparable(out)
    assert outputs["processes:2"] == outputs["serial"]
    assert outputs["ray"] == outputs["serial"]

    # a finished grid is reused cell by cell whatever runs it: no request is sent again
    before = server.stats().completions_ok
    again = run_cli(*GRID, *model, "--executor", "ray", "--out", str(tmp_path / "serial"), "--resume", env=home,
                    timeout=600)
    assert again.returncode == 0, again.stderr
    assert server.stats().completions_ok == before
    assert _comparable(tmp_path / "serial") == outputs["serial"]


def test_without_ray_the_ray_executor_exits_2_naming_the_extra(home, tmp_path):
    code = ("import sys; sys.modules['ray'] = None; from promptopt.cli import main; "
            "sys.argv = ['promptopt', 'bench', '--executor', 'ray', '--budget-tokens', '1000']; main()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=home, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "pip install 'promptopt[ray]'" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("flag", "words"), [("processes:0", "positive worker count"), ("serial:3", "no argument"),
                                             ("slurm", "unknown executor 'slurm'")])
def test_a_bad_executor_is_named(run_cli, home, flag, words):
    result = run_cli("bench", "--executor", flag, "--budget-tokens", "1000", env=home)
    assert result.returncode == 2 and words in result.stderr, result.stderr
