"""``promptopt bench`` end to end on the scripted loopback world (tests/optimizers/scripted.py)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from promptopt._version import source_fingerprint
from promptopt.benchmark import BenchPlan, BenchSettings, arun_benchmark, write_report
from promptopt.benchmark.report import summarize, summary_line
from promptopt.errors import PromptoptError

import scripted  # noqa: E402  (tests/optimizers is on sys.path through conftest)

TASK = "scripted_reviews"
SETTINGS = BenchSettings(population=4, offspring=4, dev_size=40, block_size=10, max_shots=0, max_tokens=32,
                         meta_max_tokens=64, renderer="paper", test_limit=30)


def plan_for(server, optimizers=("capo", "initial"), seeds=(1, 2), budget=10_000) -> BenchPlan:
    return BenchPlan(optimizers=optimizers, tasks=(TASK,), seeds=seeds, budget_tokens=budget,
                     model=f"openai:test-model@{server.base_url}", settings=SETTINGS,
                     initial_prompts={TASK: scripted.INITIAL})


async def bench(server, out: Path, *, resume: bool = False, **plan_options):
    result = await arun_benchmark(plan_for(server, **plan_options), out,
                                  tasks={TASK: scripted.make_task(n_dev=100, n_test=40)}, resume=resume)
    return result, write_report(result)


@pytest.mark.asyncio
async def test_grid_writes_consistent_csv_table_and_plot_then_resumes_without_requests(server_factory, tmp_path):
    server = server_factory(policy=scripted.policy)
    out = tmp_path / "bench"
    result, files = await bench(server, out)

    assert [(c.optimizer, c.seed) for c in result.cells] == [("capo", 1), ("initial", 1), ("capo", 2), ("initial", 2)]
    for cell in result.cells:
        run = Path(cell.run_dir)
        summary = json.loads((run / "summary.json").read_text())
        # the cell's numbers are the optimizer's own summary
        assert cell.dev_score == summary["best"]["dev_score"]
        assert cell.prompt_tokens == summary["best"]["tokens"]
        assert cell.instruction == summary["best"]["instruction"]
        assert cell.stop_reason == summary["stop_reason"]
        assert cell.tokens_by_role == {role: u["total_tokens"] for role, u in summary["spend"].items()}
        assert cell.tokens == sum(cell.tokens_by_role.values())
        assert cell.calls == sum(u["requests"] for u in summary["spend"].values())
        assert cell.test_n == 30 and 0.0 <= cell.test_score <= 1.0 and cell.wall_s > 0
        proposals = summary["proposals"]
        assert (cell.new_prompts, cell.proposals_asked, cell.proposals_valid) == (
            proposals["new_prompts_evaluated"], proposals["asked"], proposals["valid"])
        # every optimizer of a (task, seed) started from the same prompts, under the same budget
        config = json.loads((run / "config.json").read_text())
        assert config["initial_prompts"] == list(scripted.INITIAL)
        assert config["budget"] == json.loads((Path(result.cells[0].run_dir) / "config.json").read_text())["budget"]
    capo = [c for c in result.cells if c.optimizer == "capo"]
    assert all("token budget" in c.stop_reason for c in capo), [c.stop_reason for c in capo]
    # a batch that would cross the budget is cut: every cell ends within a few requests of it
    assert all(0.95 * 10_000 <= c.tokens <= 1.05 * 10_000 and "meta" in c.tokens_by_role for c in capo), \
        [c.tokens for c in capo]
    # CAPO finds the FOCUS+VERIFY recombination on at least one seed and beats the floor there
    initial = {c.seed: c for c in result.cells if c.optimizer == "initial"}
    assert any(c.test_score > initial[c.seed].test_score for c in capo)

    rows = list(csv.DictReader(io.StringIO(files["cells_csv"].read_text())))
    assert [(r["optimizer"], r["seed"]) for r in rows] == [("capo", "1"), ("initial", "1"), ("capo", "2"), ("initial", "2")]
    for row, cell in zip(rows, result.cells):
        assert float(row["test_score"]) == pytest.approx(cell.test_score)
        assert int(row["tokens_meta"]) == cell.tokens_by_role.get("meta", 0)
    summary_rows = {r["optimizer"]: r for r in csv.DictReader(io.StringIO(files["summary_csv"].read_text()))}
    mean_capo = sum(c.test_score for c in capo) / 2
    assert float(summary_rows["capo"]["test_mean"]) == pytest.approx(mean_capo, abs=1e-4)
    assert float(summary_rows["initial"]["calls"]) == pytest.approx(sum(c.calls for c in initial.values()) / 2, abs=0.1)
    table = files["table"].read_text()
    body = [line for line in table.splitlines() if line.startswith(f"| {TASK} |")]
    assert [line.split("|")[2].strip() for line in body] == ["capo", "initial"]
    assert f"{mean_capo:.3f} ± " in body[0]
    fewest, most = min(c.new_prompts for c in capo), max(c.new_prompts for c in capo)
    assert most > 0 and f"| {fewest}–{most} |" in body[0]
    assert "| 0–0 | – |" in body[1]  # initial asks the meta-LLM nothing
    assert files["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = max(summarize(result.cells), key=lambda r: r.test_mean)
    line = summary_line(summarize(result.cells))
    assert line.startswith(f"summary: 4 cells; {TASK} best {best.optimizer} {best.test_mean:.3f}")
    assert line.endswith(f"fewest new prompts in a cell: {fewest} (capo on {TASK})")

    # a rerun with resume reuses every finished cell: not one request, the same table
    sent = server.stats().requests_total
    again, files_again = await bench(server, out, resume=True)
    assert server.stats().requests_total == sent
    assert len(again.reused) == 4 and files_again["table"].read_text() == table
    assert again.stale == ()  # the same code measured them

    # a cell measured by other code is still reused (settings decide) but reported as stale
    stored = Path(capo[0].run_dir).parent / "cell.json"
    record = json.loads(stored.read_text())
    assert record["code"] == source_fingerprint()
    stored.write_text(json.dumps({**record, "code": "0123456789abcdef"}))
    other, _ = await bench(server, out, resume=True)
    assert other.stale == (f"{TASK}/capo/seed1",) and server.stats().requests_total == sent
    # the file's layout is versioned: one written before versions were recorded is read as 1,
    # one from a newer layout is refused by name before any field is read
    assert record["schema_version"] == 1
    stored.write_text(json.dumps({k: v for k, v in record.items() if k != "schema_version"}))
    unversioned, _ = await bench(server, out, resume=True)
    assert len(unversioned.reused) == 4 and server.stats().requests_total == sent
    stored.write_text(json.dumps({**record, "schema_version": 2, "result": {}}))
    with pytest.raises(PromptoptError, match=r"cell\.json: schema_version: unknown schema version 2"):
        await bench(server, out, resume=True)
    stored.write_text(json.dumps({**record, "result": {**record["result"], "test_n": "thirty"}}))
    with pytest.raises(PromptoptError, match=r"cell\.json: result\.test_n: Input should be a valid integer.*delete it"):
        await bench(server, out, resume=True)
    stored.write_text(json.dumps(record))

    # an interrupted cell (no cell.json yet) continues from its journal and caches: still no request
    (Path(capo[1].run_dir).parent / "cell.json").unlink()
    resumed, files_resumed = await bench(server, out, resume=True)
    assert server.stats().requests_total == sent
    assert len(resumed.reused) == 3
    assert resumed.cells[2].test_score == capo[1].test_score and resumed.cells[2].instruction == capo[1].instruction
    assert files_resumed["cells_csv"].read_text().splitlines()[3].split(",")[:12] == \
        files["cells_csv"].read_text().splitlines()[3].split(",")[:12]


@pytest.mark.asyncio
async def test_refuses_to_mix_benchmarks_in_one_output_folder(server_factory, tmp_path):
    from promptopt.errors import PromptoptError

    server = server_factory(policy=scripted.policy)
    out = tmp_path / "bench"
    await bench(server, out, optimizers=("initial",), seeds=(1,))
    with pytest.raises(PromptoptError, match="--resume"):
        await bench(server, out, optimizers=("initial",), seeds=(1,))
    with pytest.raises(PromptoptError, match="different settings.*budget_tokens"):
        await bench(server, out, optimizers=("initial",), seeds=(1,), budget=12_000, resume=True)


def test_summary_of_seeds_is_mean_and_sd():
    from promptopt.benchmark.harness import CellResult

    def cell(seed: int, score: float, tokens: dict[str, int]) -> CellResult:
        return CellResult("opro", "t", seed, score, 0.0, 1.0, 10, 0.5, 10, 20, 0, "x", sum(tokens.values()), tokens,
                          7, 2.0, "token budget", 3)

    [row] = summarize([cell(1, 0.6, {"downstream": 100}), cell(2, 0.8, {"downstream": 300, "meta": 50})])
    assert row.seeds == 2 and row.test_mean == pytest.approx(0.7) and row.test_sd == pytest.approx(0.141421, abs=1e-6)
    assert row.tokens_by_role == {"downstream": 200, "meta": 25} and row.tokens == 225


@pytest.mark.parametrize(
    ("args", "flag", "words"),
    [
        (["--optimizers", "capo,sgd"], "--optimizers", "unknown optimizer 'sgd'"),
        (["--tasks", "no_such_task"], "--tasks", "no_such_task"),
        (["--seeds", "1,x"], "--seeds", "'x' is not an integer"),
    ],
)
def test_cli_names_the_bad_flag(run_cli, home, tmp_path, args, flag, words):
    base = ["bench", "--budget-tokens", "1000", "--data-dir", str(tmp_path), "--out", str(tmp_path / "out"),
            "--tasks", "demo_sentiment", "--optimizers", "initial"]
    result = run_cli(*base, *args, env=home)
    assert result.returncode != 0
    assert flag in result.stderr and words in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()  # nothing was started


def test_without_answer_tags_reads_a_plain_label_and_keeps_the_data():
    from promptopt.benchmark.harness import without_answer_tags

    task = scripted.make_task(n_dev=10, n_test=5)
    plain = without_answer_tags(task)
    assert not task.parse("The review is positive.").ok
    assert plain.parse("The review is positive.").value == "positive"
    assert plain.parse("<final_answer>negative</final_answer>").value == "negative"
    assert not plain.parse("positive or negative?").ok  # two labels: still no answer
    assert plain.fingerprint() == task.fingerprint() and plain.description == task.description


@pytest.mark.asyncio
async def test_a_cell_whose_run_is_gone_starts_over_paying_for_every_answer(server_factory, tmp_path):
    server = server_factory(policy=scripted.policy)
    out = tmp_path / "bench"
    first, _ = await bench(server, out, optimizers=("capo",), seeds=(1,))
    [cell] = first.cells
    cell_path = Path(cell.run_dir).parent
    sent = sum(server.stats().successes_per_key.values())
    # the run and its result are deleted, the cell's search cache is left behind
    import shutil

    shutil.rmtree(cell_path / "run")
    (cell_path / "cell.json").unlink()
    again, _ = await bench(server, out, optimizers=("capo",), seeds=(1,), resume=True)
    [redone] = again.cells
    # every search answer was asked for again and charged: the same budget bought the same run
    assert sum(server.stats().successes_per_key.values()) - sent >= cell.calls
    assert (redone.tokens, redone.calls, redone.generations, redone.instruction) == (
        cell.tokens, cell.calls, cell.generations, cell.instruction)


def test_cli_refuses_a_grid_whose_budget_cannot_pay_for_one_generation_before_any_request(
    run_cli, server_factory, home, tmp_path
):
    server = server_factory(policy=scripted.policy)
    base = ["bench", "--tasks", "demo_sentiment", "--optimizers", "capo,initial", "--seeds", "1",
            "--model", f"openai:test-model@{server.base_url}", "--population", "4", "--offspring", "4",
            "--dev-size", "16", "--block-size", "4", "--max-tokens", "16", "--out", str(tmp_path / "out")]
    dry = run_cli(*base, "--budget-tokens", "800", "--dry-run", env=home)
    assert dry.returncode == 0, dry.stderr
    capo, initial = dry.stdout.splitlines()
    assert capo.startswith("preflight demo_sentiment capo: generation 0 ") and "each later generation" in capo
    assert initial.endswith("no search after it")

    refused = run_cli(*base, "--budget-tokens", "800", env=home)
    assert refused.returncode == 2, refused.stderr
    assert "demo_sentiment capo: the token budget (800) is below the least" in refused.stderr
    assert "--force" in refused.stderr
    assert server.stats().completions_ok == 0 and not (tmp_path / "out" / "cells").exists()
