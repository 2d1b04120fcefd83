"""``promptopt plan run`` as a user runs it: a subprocess against the loopback server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import llm_world


def test_plan_run_writes_episodes_and_summary_and_resume_skips_finished(run_cli, server_factory, home, tmp_path) -> None:
    server = server_factory(policy=llm_world.good_planner())
    out = tmp_path / "run"
    cache = tmp_path / "cache.sqlite"
    args = ("plan", "run", "--suite", "test24", "--agents", "capo", "--model", f"openai:test-model@{server.base_url}",
            "--episodes", "2", "--seeds", "0,1", "--variant", "discussion", "--rounds", "2", "--out", str(out),
            "--cache", str(cache))
    first = run_cli(*args, "--json", env=home)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    row = summary["teams"]["capo:discussion-r2:2a"]
    assert row["episodes"] == 4 and 0 < row["transport_rate"]["mean"] <= 1
    assert row["consensus_rate"] == 1.0 and row["replans"] == 0 and row["usable_plan_rate"] == 1.0
    files = sorted(p.name for p in (out / "episodes").glob("*.json"))
    assert files == ["test24-00-s0.json", "test24-00-s1.json", "test24-01-s0.json", "test24-01-s1.json"]
    record = json.loads((out / "episodes" / "test24-01-s1.json").read_text())
    assert record["plans"][0]["plan"]["subtasks"] and record["transcript"][0]["module"] == "draft"
    assert json.loads((out / "summary.json").read_text())["teams"] == summary["teams"]
    sent = server.stats().completions_ok

    (out / "episodes" / "test24-01-s1.json").unlink()  # as if the run had been stopped before it
    server.set_policy(llm_world.coela_greedy())  # a changed model: only the cache can give the same answers
    again = run_cli(*args, "--resume", env=home)
    assert again.returncode == 0, again.stderr
    assert server.stats().completions_ok == sent  # one episode re-run, every call from the cache
    assert "capo:discussion-r2:2a" in again.stdout and "transport rate" in again.stdout and "usable plan" in again.stdout
    assert json.loads((out / "episodes" / "test24-01-s1.json").read_text())["transcript"] == record["transcript"]

    refused = run_cli(*args, env=home)
    assert refused.returncode != 0 and "--resume" in refused.stderr
    changed = run_cli(*args[:-6], "--rounds", "3", "--out", str(out), "--cache", str(cache), "--resume", env=home)
    assert changed.returncode != 0 and "rounds" in changed.stderr


def test_plan_run_scripted_team_and_clear_errors(run_cli, home, tmp_path) -> None:
    ok = run_cli("plan", "run", "--agents", "claims", "--episodes", "2", "--out", str(tmp_path / "c"), "--json", env=home)
    assert ok.returncode == 0, ok.stderr
    row = json.loads(ok.stdout)["teams"]["claims"]
    assert row["episodes"] == 2 and row["llm_calls"] == 0 and row["messages"] > 0
    assert row["usable_plan_rate"] is None  # scripted teams draft no plan
    no_model = run_cli("plan", "run", "--agents", "capo", "--out", str(tmp_path / "x"), env=home)
    assert no_model.returncode != 0 and "--model" in no_model.stderr
    bad_seeds = run_cli("plan", "run", "--agents", "greedy", "--seeds", "1,x", "--out", str(tmp_path / "z"), env=home)
    assert bad_seeds.returncode != 0 and "--seeds" in bad_seeds.stderr and not (tmp_path / "z").exists()
