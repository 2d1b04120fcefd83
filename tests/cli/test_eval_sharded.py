"""``promptopt eval --out --shards --executor`` (issue 17): a large evaluation in resumable shards,
in this process, in worker processes and on a local Ray instance, against loopback servers with
injected faults; the score equals the single-process evaluation's and every example is scored once."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from promptopt.testing.faults import FaultPlan

from test_eval_cli import prompt_file, sentiment_policy  # noqa: E402,F401  (tests/cli is on sys.path)

FAULTS = FaultPlan(rates={"500": 0.05, "429": 0.03, "malformed": 0.02}, seed=7, max_failures_per_key=2,
                   retry_after_s=0.01)


def _data(root: Path, n: int) -> Path:
    """An sst2-shaped data folder whose dev split holds ``n`` short reviews."""
    rng = random.Random(0)
    words = ("good", "bad", "dull", "fine", "great", "boring", "fun", "mess")
    (root / "sst2").mkdir(parents=True)
    for split, count in (("dev", n), ("test", 10)):
        rows = []
        for i in range(count):
            word = rng.choice(words)
            label = "negative" if word in ("bad", "dull", "boring", "mess") else "positive"
            # every fifth review misleads the policy, so the score is neither 0 nor 1
            rows.append({"text": f"review {i}: a {word} film{' , not' if i % 5 == 0 else ''}", "label": label})
        (root / "sst2" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def _eval(run_cli, env, prompt_file, data, spec, *extra, timeout=600):
    result = run_cli("eval", str(prompt_file), "--task", "sst2", "--data-dir", str(data), "--split", "dev",
                     "--model", spec, "--max-tokens", "16", "--json", *extra, env=env, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_two_thousand_examples_on_ray_score_as_one_process_each_once(run_cli, server_factory, home, prompt_file,
                                                                     tmp_path):
    data = _data(tmp_path / "data", 2000)
    single_server = server_factory(policy=sentiment_policy(), faults=FAULTS)
    single = _eval(run_cli, home, prompt_file, data, f"openai:test-model@{single_server.base_url}", "--no-cache")

    # two endpoints serving the same model, each injecting faults; shards go round-robin over both
    servers = [server_factory(policy=sentiment_policy(), faults=FAULTS) for _ in range(2)]
    out = tmp_path / "ray"
    sharded = _eval(run_cli, home, prompt_file, data, f"openai:test-model@{servers[0].base_url}",
                    "--endpoint", f"openai:test-model@{servers[1].base_url}", "--out", str(out),
                    "--shards", "8", "--executor", "ray", "--no-cache")
    for key in ("n", "score", "low", "high", "interval_method", "parse_failures", "errors"):
        assert sharded[key] == single[key], key
    assert sharded["n"] == 2000 and 0.5 < sharded["score"] < 1.0 and sharded["errors"] == 0
    records = _records(out)
    assert len(records) == 2000 and len({r["uid"] for r in records}) == 2000
    stats = [s.stats() for s in servers]
    answered = {}
    for s in stats:
        for key, count in s.successes_per_key.items():
            answered[key] = answered.get(key, 0) + count
    assert len(answered) == 2000 and set(answered.values()) == {1}  # every example answered once, in all
    assert all(sum(s.successes_per_key.values()) > 0 for s in stats)  # both endpoints served shards
    assert sum(s.requests_total for s in stats) > 2000  # faults were injected and retried
    assert sharded["usage"]["requests"] == sum(s.requests_total for s in stats)
    assert len(list((out / "shards").glob("*.jsonl"))) == 8


def test_shards_resume_one_by_one_in_worker_processes(run_cli, server_factory, home, prompt_file, tmp_path):
    data = _data(tmp_path / "data", 300)
    server = server_factory(policy=sentiment_policy())
    spec = f"openai:test-model@{server.base_url}"
    out = tmp_path / "eval"
    first = _eval(run_cli, home, prompt_file, data, spec, "--out", str(out), "--shards", "3",
                  "--executor", "processes:2", "--no-cache")
    assert server.stats().completions_ok == 300 and first["n"] == 300
    lost = out / "shards" / "00001.jsonl"
    lost.unlink()  # as if the worker scoring it had died
    again = _eval(run_cli, home, prompt_file, data, spec, "--out", str(out), "--shards", "3",
                  "--executor", "processes:2", "--no-cache")
    assert server.stats().completions_ok == 400  # only the lost shard's 100 examples were asked again
    assert again["score"] == first["score"] and again["n"] == 300
    assert len({r["uid"] for r in _records(out)}) == 300  # the results file holds every example once
    serial = _eval(run_cli, home, prompt_file, data, spec, "--out", str(out), "--shards", "3", "--no-cache",
                   "--parquet")
    assert server.stats().completions_ok == 400 and serial["score"] == first["score"]  # every shard reused
    import pyarrow.parquet as pq

    assert pq.read_table(out / "results.parquet").to_pylist() == _records(out)


def test_sharding_without_out_and_another_evaluation_in_the_folder_are_refused(run_cli, server_factory, home,
                                                                               prompt_file, tmp_path):
    data = _data(tmp_path / "data", 20)
    server = server_factory(policy=sentiment_policy())
    spec = f"openai:test-model@{server.base_url}"
    base = ("eval", str(prompt_file), "--task", "sst2", "--data-dir", str(data), "--split", "dev", "--model", spec)
    no_out = run_cli(*base, "--shards", "4", env=home)
    assert no_out.returncode == 2 and "--out" in no_out.stderr and "--shards" in no_out.stderr
    out = tmp_path / "eval"
    assert run_cli(*base, "--out", str(out), "--shards", "2", env=home).returncode == 0
    other = run_cli(*base, "--out", str(out), "--shards", "2", "--limit", "10", env=home)
    assert other.returncode == 2 and "examples" in other.stderr and str(out) in other.stderr
    assert server.stats().completions_ok == 20  # nothing was sent for the refused run



async def test_a_task_with_an_llm_judge_is_refused_on_workers(tmp_path):
    import dataclasses

    from promptopt.errors import UsageError
    from promptopt.executors import ExecutorSpec
    from promptopt.llm.records import Sampling
    from promptopt.prompt import Prompt
    from promptopt.sharded_eval import ShardJob, evaluate_sharded
    from promptopt.tasks.registry import load_task

    class Judge:  # a judge holds an LLM client, which lives in the process that made it
        async def score(self, outputs, examples):
            return [1.0 for _ in outputs]

    task = dataclasses.replace(load_task("demo_sentiment"), judge=Judge())
    job = ShardJob(Prompt("Classify."), tuple(task.dev), task, "paper", Sampling(), "dev", None, str(tmp_path / "e"))
    with pytest.raises(UsageError, match="demo_sentiment.*LLM judge.*--executor serial"):
        await evaluate_sharded(job, ["openai:test-model@http://127.0.0.1:9/v1"], shards=2,
                               executor=ExecutorSpec("processes", "2"))
    assert not (tmp_path / "e").exists()  # refused before anything was written
