"""``promptopt report`` (issue 18): one self-contained HTML page per run directory or bench
folder, opened in headless Chromium (Debian's package, installed here where missing): no console
error, and the best prompt, the front table and the racing table are in the DOM. Each test
writes a screenshot under ``test-artifacts/`` (or ``$PROMPTOPT_TEST_ARTIFACTS``)."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "optimizers"))
sys.path.insert(0, str(Path(__file__).parents[1] / "judging"))
import scripted  # noqa: E402
import world  # noqa: E402

REPO = Path(__file__).parents[2]
ARTIFACTS = Path(os.environ.get("PROMPTOPT_TEST_ARTIFACTS", REPO / "test-artifacts"))
#: Chromium as root on a closed network: no sandbox, no background connections, a fresh profile.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--hide-scrollbars",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def _install_chromium() -> str | None:
    found = shutil.which("chromium")
    if found or shutil.which("apt-get") is None or os.geteuid() != 0:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        if subprocess.run(command, capture_output=True, env=env, timeout=900).returncode != 0:
            return None
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def chromium() -> str:
    path = _install_chromium()
    if path is None:
        pytest.skip("Debian's chromium is not installed and could not be installed (needs root and apt-get): "
                    "the report is checked in a browser only where one exists")
    return path


def open_in_browser(chromium: str, page: Path, tmp_path: Path, screenshot: str) -> tuple[str, list[str]]:
    """The DOM after load and the console lines Chromium logged; a full-page screenshot too."""
    profile = tmp_path / "chromium-profile"
    base = [chromium, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0"]
    dumped = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    console = [line for line in dumped.stderr.splitlines() if ":CONSOLE" in line]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / screenshot
    taken = subprocess.run([*base, "--window-size=1200,3600", f"--screenshot={shot}", page.as_uri()],
                           capture_output=True, text=True, timeout=120)
    assert taken.returncode == 0 and shot.stat().st_size > 10_000, taken.stderr[-2000:]
    return dumped.stdout, console


def element(dom: str, ident: str) -> str:
    match = re.search(rf'<(\w+)[^>]*\bid="{ident}"[^>]*>(.*?)</\1>', dom, re.S)
    assert match, f"no element with id {ident}"
    return match.group(2)


def assert_self_contained(page: str) -> None:
    assert not re.search(r'\b(src|href)="(https?:)?//', page), "the report loads something from the network"
    assert "<script" not in page


def test_a_scripted_capo_run_report_loads_clean_with_prompt_front_and_races(chromium, run_cli, server_factory, home,
                                                                           tmp_path):
    server = server_factory(policy=scripted.policy)
    run_dir = tmp_path / "run"
    done = run_cli("optimize", "--task", "demo_sentiment", "--model", f"openai:test-model@{server.base_url}",
                   "--max-generations", "3", "--population", "4", "--offspring", "4", "--dev-size", "16",
                   "--block-size", "4", "--max-tokens", "16", "--run-dir", str(run_dir), "--report", "--json",
                   env=home, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    page = Path(summary["report"])
    assert page == run_dir / "report.html"
    assert_self_contained(page.read_text())

    dom, console = open_in_browser(chromium, page, tmp_path, "report-capo-scripted.png")
    assert console == []
    assert html.unescape(summary["best"]["instruction"]) in html.unescape(element(dom, "best-prompt"))
    front = element(dom, "front-table")
    assert front.count("<tr>") == len(summary["front"]) + 1  # header + one row per point
    for point in summary["front"]:
        assert point["candidate_id"] in front
    racing = element(dom, "racing-table")
    eliminated = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    eliminated = [e["candidate"] for e in eliminated if e["event"] == "elimination"]
    assert eliminated and all(cid in racing for cid in eliminated)
    assert summary["best"]["candidate"] in element(dom, "lineage-table")


def test_an_mpo_run_report_shows_the_rubric_versions(chromium, run_cli, server_factory, home, tmp_path):
    server = server_factory(policy=world.make_policy())
    run_dir = tmp_path / "mpo"
    prompts = [arg for p in world.INITIAL for arg in ("--prompt", p)]
    done = run_cli("optimize", "--task", "brief_summary", "--optimizer", "mpo",
                   "--model", f"openai:test-model@{server.base_url}", "--population", "4", "--offspring", "4",
                   "--block-size", "6", "--max-blocks", "3", "--dev-size", "40", "--max-shots", "0",
                   "--max-tokens", "96", "--max-generations", "3", "--seed", "3", *prompts, "--no-cache",
                   "--run-dir", str(run_dir), "--json", env=home, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    made = run_cli("report", str(run_dir), "--out", str(tmp_path / "mpo.html"), env=home)
    assert made.returncode == 0 and made.stdout.strip() == f"report: {tmp_path / 'mpo.html'}", made.stderr

    dom, console = open_in_browser(chromium, tmp_path / "mpo.html", tmp_path, "report-mpo-scripted.png")
    assert console == []
    assert html.unescape(summary["best"]["instruction"]) in html.unescape(element(dom, "best-prompt"))
    element(dom, "front-table")
    element(dom, "racing-table")
    rubric = element(dom, "rubric-table")
    assert "accepted" in rubric and "passed every check" in rubric
    assert "word_limit" in dom  # the accepted version's items


def test_a_bench_folder_report_shows_the_grid(chromium, tmp_path):
    from promptopt.report import write_report

    folder = REPO / "bench" / "results" / "optimizers-real"
    page = write_report(folder, tmp_path / "bench.html")
    assert_self_contained(page.read_text())
    dom, console = open_in_browser(chromium, page, tmp_path, "report-bench.png")
    assert console == []
    rows = json.loads((folder / "results.json").read_text())["summary"]
    assert element(dom, "grid-table").count("<tr>") == len(rows) + 1
    assert "data:image/png;base64," in dom


def test_report_names_a_directory_that_is_neither_run_nor_bench(run_cli, home, tmp_path):
    missing = run_cli("report", str(tmp_path / "nowhere"), env=home)
    assert missing.returncode == 2 and "nowhere: no such directory" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = run_cli("report", str(tmp_path / "empty"), env=home)
    assert empty.returncode != 0 and "neither a run directory" in empty.stderr and "Traceback" not in empty.stderr
