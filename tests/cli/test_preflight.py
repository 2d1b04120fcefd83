"""Preflight (issue 18): before the first request, optimize says what the budget buys and refuses
a budget that cannot pay for one generation; afterwards the summary puts the estimate next to
what was spent. Scripted world on the loopback server, the CLI as a user runs it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "optimizers"))
import scripted  # noqa: E402

SMALL = ["--max-generations", "3", "--population", "4", "--dev-size", "16", "--block-size", "4", "--max-tokens", "16"]
PER_OPTIMIZER = {
    "capo": ["--offspring", "4"],
    "opro": [],
    "evoprompt-ga": ["--offspring", "4"],
    "evoprompt-de": [],
}


@pytest.mark.parametrize("optimizer", sorted(PER_OPTIMIZER))
def test_the_estimate_of_generation_0_is_within_20_percent_of_what_the_run_sends(
    optimizer, run_cli, server_factory, home, tmp_path
):
    server = server_factory(policy=scripted.policy)
    spec = f"openai:test-model@{server.base_url}"
    run_dir = tmp_path / "run"
    flags = ["optimize", "--task", "demo_sentiment", "--model", spec, "--optimizer", optimizer, *SMALL,
             *PER_OPTIMIZER[optimizer], "--run-dir", str(run_dir), "--no-cache"]
    dry = run_cli(*flags, "--dry-run", "--json", env=home)
    assert dry.returncode == 0, dry.stderr
    assert server.stats().completions_ok == 0 and not run_dir.exists()  # a dry run asks nothing, writes nothing
    printed = json.loads(dry.stdout)["estimate"]

    done = run_cli(*flags, "--json", env=home, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads((run_dir / "summary.json").read_text())["preflight"]
    assert report["estimate"] == printed
    estimated, actual = report["estimate"]["initial"]["requests"], report["actual"]["initial"]["requests"]
    assert abs(estimated - actual) <= 0.2 * actual, (estimated, actual)
    assert report["actual"]["generations"] == 3
    # later generations: at most the estimate's top (it assumes every proposal valid and new; the
    # scripted meta model repeats itself, so fewer new prompts may be scored)
    per_generation = report["actual"]["per_generation"]["requests"]
    high = report["estimate"]["generation_high"]["requests"]
    assert 0 < per_generation <= high, (per_generation, high)


def test_a_budget_too_small_for_one_generation_exits_2_with_the_estimate_and_sends_nothing(
    run_cli, server_factory, home, tmp_path
):
    server = server_factory(policy=scripted.policy)
    spec = f"openai:test-model@{server.base_url}"
    run_dir = tmp_path / "run"
    flags = ["optimize", "--task", "demo_sentiment", "--model", spec, *SMALL, "--run-dir", str(run_dir)]
    refused = run_cli(*flags, "--budget-tokens", "900", env=home)
    assert refused.returncode == 2, refused.stderr
    assert "preflight (capo): generation 0 (initial population):" in refused.stderr
    assert "error: the token budget (900) is below the least that generation 0 and one generation cost" in refused.stderr
    assert "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert server.stats().completions_ok == 0 and not run_dir.exists()  # token counts only (/tokenize)

    calls = run_cli(*flags, "--max-calls", "5", env=home)
    assert calls.returncode == 2 and "the call limit (5) is below the requests" in calls.stderr

    forced = run_cli(*flags, "--budget-tokens", "900", "--force", env=home, timeout=300)  # the user insists
    assert server.stats().completions_ok > 0
    assert forced.returncode == 1 and "stopped before the initial population was scored" in forced.stderr


def test_the_estimate_prints_before_the_run_and_counts_what_the_budget_buys(run_cli, server_factory, home, tmp_path):
    server = server_factory(policy=scripted.policy)
    spec = f"openai:test-model@{server.base_url}"
    result = run_cli("optimize", "--task", "demo_sentiment", "--model", spec, *SMALL, "--offspring", "4",
                     "--budget-tokens", "20000", "--dry-run", env=home)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("preflight (capo): generation 0 (initial population): ")
    assert "(every new candidate out after one block) to" in lines[1]
    assert lines[2].startswith("preflight: this budget buys about ") and lines[2].endswith("(generation limit 3)")


def _run_in_a_terminal(command: list[str], env: dict[str, str], timeout: float = 300) -> str:
    """Run ``command`` with stdout and stderr on a pseudo-terminal (so the live view is on)."""
    import os
    import pty
    import re
    import select
    import time

    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes the command
        os.execvpe(command[0], command, {**os.environ, **env, "COLUMNS": "200"})
    out, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        out += data
    os.waitpid(pid, 0)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode(errors="replace"))


def test_the_live_view_counts_sent_and_cached_requests_against_the_estimate(server_factory, home, tmp_path):
    server = server_factory(policy=scripted.policy)
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "promptopt.cli", "optimize", "--task", "demo_sentiment", "--model",
               f"openai:test-model@{server.base_url}", *SMALL, "--offspring", "4", "--run-dir", str(run_dir),
               "--cache", str(tmp_path / "cache.sqlite3")]
    screen = _run_in_a_terminal(command, home)
    spend = json.loads((run_dir / "summary.json").read_text())["spend"]
    sent = sum(role["asked"] for role in spend.values())
    cached = sum(role["cache_hits"] for role in spend.values())
    import re

    frames = re.findall(r"requests\s.*?(\d+)/(\d+).*?sent (\d+) · cached (\d+) · failed (\d+) · retried (\d+)", screen)
    assert frames, screen[-2000:]
    done, total, *counts = (int(x) for x in frames[-1])
    assert counts == [sent, cached, 0, 0] and done == sent + cached
    assert total >= done  # the bar's total is the preflight estimate of the whole run (or what was done)
    assert server.stats().completions_ok == sent  # every completion the server answered was counted


def test_a_spec_price_makes_dollars_a_budget_and_an_unknown_price_is_refused_not_free(run_cli, server_factory, home,
                                                                                    tmp_path):
    server = server_factory(policy=scripted.policy)
    unpriced = f"openai:test-model@{server.base_url}"
    refused = run_cli("optimize", "--task", "demo_sentiment", "--model", unpriced, *SMALL, "--budget-usd", "1",
                      "--run-dir", str(tmp_path / "unpriced"), env=home)
    assert refused.returncode == 2 and "--budget-usd: no price is known for " in refused.stderr
    assert "usd_per_mtok_in" in refused.stderr and server.stats().requests_total == 0

    priced = f"{unpriced}?usd_per_mtok_in=2&usd_per_mtok_out=8"
    dry = run_cli("optimize", "--task", "demo_sentiment", "--model", priced, *SMALL, "--budget-usd", "1",
                  "--dry-run", "--json", env=home)
    initial = json.loads(dry.stdout)["estimate"]["initial"]
    assert 0 < initial["usd_low"] < initial["usd_high"]

    run_dir = tmp_path / "priced"
    done = run_cli("optimize", "--task", "demo_sentiment", "--model", priced, *SMALL, "--offspring", "4",
                   "--budget-usd", "0.02", "--run-dir", str(run_dir), "--json", "--no-cache", env=home, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    total = 0.0
    for role in summary["spend"].values():
        expected = (role["prompt_tokens"] * 2 + role["completion_tokens"] * 8) / 1e6
        assert role["usd"] == pytest.approx(expected)
        total += role["usd"]
    assert summary["stop_reason"].startswith("cost budget reached") and total >= 0.02

    text = run_cli("optimize", "--task", "demo_sentiment", "--model", unpriced, *SMALL, "--run-dir",
                   str(tmp_path / "plain"), "--no-cache", env=home, timeout=300)
    assert "USD unknown (no price)" in text.stdout and "$0.0000" not in text.stdout


def test_the_bench_view_counts_every_cells_requests(server_factory, home, tmp_path):
    server = server_factory(policy=scripted.policy)
    out = tmp_path / "bench"
    command = [sys.executable, "-m", "promptopt.cli", "bench", "--tasks", "demo_sentiment", "--optimizers", "capo,opro",
               "--seeds", "1", "--model", f"openai:test-model@{server.base_url}", "--population", "4",
               "--offspring", "4", "--dev-size", "16", "--block-size", "4", "--max-tokens", "16",
               "--budget-tokens", "20000", "--out", str(out)]
    screen = _run_in_a_terminal(command, home)
    import re

    frames = re.findall(r"requests\s.*?(\d+)/(\d+).*?cell (\d)/2 demo_sentiment (\w+) seed 1: sent (\d+) · cached (\d+)",
                        screen)
    assert {f[3] for f in frames} == {"capo", "opro"}, screen[-2000:]
    done, total, _, _, sent, cached = (int(x) if x.isdigit() else x for x in frames[-1])
    # the grid's bar: every search request of both cells (the first cell's, then the running one's);
    # scoring the best prompts on test afterwards is not part of it
    searched = 0
    for summary in out.glob("cells/*/*/*/run/summary.json"):
        searched += sum(r["asked"] + r["cache_hits"] for r in json.loads(summary.read_text())["spend"].values())
    assert done == searched and total >= done and done < server.stats().completions_ok
    assert "[2/2] demo_sentiment opro seed 1:" in screen
