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


def _comparable(out: Path, server_url: str = "") -> tuple[list[str], dict]:
    """table.md without its wall-time column; results.json without wall times, the folder name
    and the list of reused cells; with ``server_url``, the server's address too."""
    def text(name: str) -> str:
        return (out / name).read_text().replace(str(out), "OUT").replace(server_url or "\0", "URL")

    table = [line.rsplit("|", 2)[0] for line in text("table.md").splitlines()]
    results = json.loads(text("results.json"))
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
    for executor in ("serial", "processes:2", "ray", "processes:2 --ship-results"):
        out = tmp_path / executor.replace(":", "-").replace(" ", "")
        done = run_cli(*GRID, *model, "--executor", *executor.split(), "--out", str(out), env=home, timeout=600)
        assert done.returncode == 0, done.stderr
        assert len(json.loads(done.stdout)["cells"]) == 6
        outputs[executor] = _comparable(out)
    assert outputs["processes:2"] == outputs["serial"]
    assert outputs["ray"] == outputs["serial"]
    # workers without the driver's storage: each cell's folder went to its worker and came back
    assert outputs["processes:2 --ship-results"] == outputs["serial"]
    shipped = tmp_path / "processes-2--ship-results"
    assert len(list(shipped.glob("cells/*/*/*/run/journal.jsonl"))) == 6
    assert not list(shipped.glob("cells/*/*/.seed*"))  # no staging folder left behind
    # a cell interrupted after its search resumes on a worker from the folder the driver sends it
    before = server.stats().completions_ok
    (shipped / "cells/demo_sentiment/capo/seed2/cell.json").unlink()
    resumed = run_cli(*GRID, *model, "--executor", "processes:2", "--ship-results", "--out", str(shipped),
                      "--resume", env=home, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert server.stats().completions_ok == before  # its journal replayed from its shipped cache
    table, results = _comparable(shipped)
    want_table, want = outputs["serial"]
    # its test answers came from the grid's test cache this time: scored alike, charged nothing
    [again_cell] = [c for c in results["cells"] if c["run_dir"].endswith("capo/seed2/run")]
    assert again_cell.pop("test_tokens") == 0
    assert table == want_table and results == {**want, "cells": [
        {k: v for k, v in c.items() if not (k == "test_tokens" and c["run_dir"].endswith("capo/seed2/run"))}
        for c in want["cells"]]}

    # a finished grid is reused cell by cell whatever runs it: no request is sent again
    before = server.stats().completions_ok
    again = run_cli(*GRID, *model, "--executor", "ray", "--out", str(tmp_path / "serial"), "--resume", env=home,
                    timeout=600)
    assert again.returncode == 0, again.stderr
    assert server.stats().completions_ok == before
    assert _comparable(tmp_path / "serial") == outputs["serial"]


def test_the_grid_view_follows_cells_in_worker_processes_through_their_folders(server_factory, home, tmp_path):
    import re

    from test_preflight import _run_in_a_terminal  # noqa: E402  (tests/cli is on sys.path)

    from promptopt.testing.capacity import ServerConfig

    # 0.1 s a request, so that a cell runs for seconds: the view polls every second, and cells
    # answered at once could all start and finish between two polls (1 run in 3 saw none running)
    server = server_factory(policy=scripted.policy, config=ServerConfig(latency_s=0.1))
    out = tmp_path / "grid"
    command = [sys.executable, "-m", "promptopt.cli", *[a for a in GRID if a != "--json"], "--model",
               f"openai:test-model@{server.base_url}", "--executor", "processes:2", "--out", str(out)]
    screen = _run_in_a_terminal(command, home, timeout=600)
    frames = [tuple(int(x.replace(",", "")) for x in f) for f in re.findall(
        r"(\d+)/6 cells done · (\d+) running · (\d+) failed · (\d+) resumed · ([\d,]+) tokens, ([\d,]+) requests "
        r"spent", screen)]
    assert frames, screen[-2000:]
    assert any(running >= 1 for _, running, *_ in frames)  # cells were seen running in the workers
    unexpected = [f for f in frames if f[1] > 2 or f[2] or f[3]]  # over 2 running, failed or resumed
    assert not unexpected, unexpected
    results = json.loads((out / "results.json").read_text())
    total_tokens = sum(c["tokens"] for c in results["cells"])
    assert max(tokens for *_, tokens, _ in frames) <= total_tokens  # spend so far never runs ahead
    assert [done for done, *_ in frames] == sorted(done for done, *_ in frames)  # cells only ever finish
    assert len(re.findall(r"\[\d/6\] demo_sentiment", screen)) == 6  # a line per finished cell


def test_a_worker_that_does_not_see_out_says_so_and_a_shipped_folder_comes_back_whole(tmp_path):
    import io
    import tarfile

    from promptopt.benchmark.harness import CellJob, CellUnit, run_cell_job
    from promptopt.benchmark.plan import BenchPlan, BenchSettings, Cell
    from promptopt.errors import PromptoptError, UsageError
    from promptopt.folder_archive import pack_folder, unpack_folder

    plan = BenchPlan(optimizers=("initial",), tasks=("demo_sentiment",), seeds=(1,), budget_tokens=1000,
                     model="openai:test-model@http://127.0.0.1:9/v1", meta_model=None, settings=BenchSettings())
    job = CellJob(plan, str(tmp_path / "elsewhere"), None, {})
    with pytest.raises(PromptoptError, match="cell demo_sentiment/initial/seed1: .*does not see --out .*elsewhere.*"
                                             "--ship-results") as raised:
        run_cell_job(job, CellUnit(Cell("initial", "demo_sentiment", 1)))
    assert raised.value.exit_code == UsageError("").exit_code == 2
    # a shipped folder comes back whole, and replaces what was there
    folder = tmp_path / "cell"
    (folder / "run").mkdir(parents=True)
    (folder / "run" / "journal.jsonl").write_text('{"seq": 0}\n')
    (folder / "run" / ".lock").write_text("123")
    data = pack_folder(folder)
    (folder / "run" / "journal.jsonl").write_text("changed")
    (folder / "stray.txt").write_text("x")
    unpack_folder(data, folder)
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == ["run", "run/journal.jsonl"]
    assert (folder / "run" / "journal.jsonl").read_text() == '{"seq": 0}\n'
    # an archive with a member outside the folder is refused and the folder left as it was
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        member = tarfile.TarInfo("../outside.txt")
        member.size = 1
        archive.addfile(member, io.BytesIO(b"x"))
    with pytest.raises(PromptoptError, match="not a plain file inside it"):
        unpack_folder(buffer.getvalue(), folder)
    assert not (tmp_path / "outside.txt").exists() and (folder / "run" / "journal.jsonl").exists()


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


class _Freezer:
    """The scripted policy, with a switch that holds every request in service until released:
    answered requests are then all in their cells' caches, and the held ones unanswered."""

    def __init__(self) -> None:
        import threading

        self.frozen = threading.Event()

    async def __call__(self, request):
        import asyncio

        while self.frozen.is_set():
            await asyncio.sleep(0.01)
        return scripted.policy(request)


def _ray_cell_workers() -> list[int]:
    """Pids of Ray worker processes running a cell now (their title is the task's name)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"ray::run_cell_job"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def test_a_ray_worker_killed_mid_cell_is_retried_and_nothing_answered_is_asked_again(
    run_cli, server_factory, home, tmp_path
):
    import os
    import signal
    import time

    reference = server_factory(policy=scripted.policy)
    serial = run_cli(*GRID, "--model", f"openai:test-model@{reference.base_url}", "--out", str(tmp_path / "serial"),
                     env=home, timeout=600)
    assert serial.returncode == 0, serial.stderr

    freezer = _Freezer()
    server = server_factory(policy=freezer)
    out = tmp_path / "ray"
    proc = subprocess.Popen([sys.executable, "-m", "promptopt.cli", *GRID, "--model",
                             f"openai:test-model@{server.base_url}", "--executor", "ray", "--out", str(out)],
                            env=home, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 300
    try:
        while killed is None and time.monotonic() < deadline and proc.poll() is None:
            searching = [j for j in out.glob("cells/*/*/*/run/journal.jsonl")
                         if '"initial_population"' in j.read_text() and not (j.parent / "summary.json").exists()]
            workers = _ray_cell_workers()
            if searching and workers:
                freezer.frozen.set()
                time.sleep(1.5)  # every answer on its way lands in its cell's cache; new requests wait
                killed = workers[0]
                os.kill(killed, signal.SIGKILL)
                time.sleep(0.5)  # the server sees the dead worker's connections close
                freezer.frozen.clear()
            time.sleep(0.05)
    finally:
        freezer.frozen.clear()
        stdout, stderr = proc.communicate(timeout=600)
    assert killed is not None, f"no cell was ever seen searching on a Ray worker: {stderr[-2000:]}"
    assert proc.returncode == 0, stderr[-3000:]
    resumed = [t for t in out.glob("cells/*/*/*/timing.json") if len(json.loads(t.read_text())["sessions"]) == 2]
    assert len(resumed) == 1  # the killed cell ran again (Ray's retry) and resumed from its journal
    (_, got), (_, want) = _comparable(out, server.base_url), _comparable(tmp_path / "serial", reference.base_url)
    # the same table, spend included: what the dead session paid after its last spend note comes
    # from the run's paid log, though the retry replays those answers from the cache for free
    assert got == want
    # every request was answered as often as in the serial run: none the dead worker had its
    # answer for was sent again (the cell resumed from its journal and cache)
    assert server.stats().successes_per_key == reference.stats().successes_per_key
