"""The run directory: config and resume checks, the journal, replay, outputs and the plot."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from promptopt.budget import Budget
from promptopt.errors import PromptoptError
from promptopt.runs import JournalReplay, RunDir, TruncatedJournalWarning, plot_progress

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def config(tokens: int = 1000, seed: int = 0) -> dict:
    return {
        "optimizer": "capo",
        "seed": seed,
        "models": {"downstream": "local", "meta": "local"},
        "budget": Budget.from_options(tokens=tokens).to_dict(),
    }


class SavedText:
    """Anything with ``save(path)`` can be written as an artifact."""

    def __init__(self, text: str) -> None:
        self.text = text

    def save(self, path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.text, encoding="utf-8")
        return path


# -- config -------------------------------------------------------------------------------------


def test_config_round_trip_is_pretty_and_sorted(tmp_path) -> None:
    run = RunDir(tmp_path / "run")
    path = run.write_config(config())
    assert path == tmp_path / "run" / "config.json"
    text = path.read_text()
    assert text == json.dumps({**config(), "schema_version": 1}, indent=2, sort_keys=True) + "\n"
    assert RunDir(tmp_path / "run", create=False).read_config() == config()


def test_config_layout_version_is_checked_first_and_absent_is_one(tmp_path) -> None:
    run = RunDir(tmp_path / "run")
    path = run.write_config(config())
    path.write_text(json.dumps(config()))  # written before the layout was recorded
    run.check_resume(config())
    path.write_text(json.dumps({**config(), "schema_version": 2, "seed": "x"}))
    with pytest.raises(PromptoptError, match=r"config\.json: schema_version: unknown schema version 2 \(this promptopt reads 1"):
        run.check_resume(config())


def test_missing_dir_and_missing_config(tmp_path) -> None:
    with pytest.raises(PromptoptError, match="does not exist"):
        RunDir(tmp_path / "nope", create=False)
    with pytest.raises(PromptoptError, match="no run here to resume"):
        RunDir(tmp_path / "empty").check_resume(config())
    (tmp_path / "file").touch()
    with pytest.raises(PromptoptError, match="not a directory"):
        RunDir(tmp_path / "file")


def test_check_resume_allows_budget_changes_only(tmp_path) -> None:
    run = RunDir(tmp_path)
    run.write_config(config(tokens=1000))
    run.check_resume(config(tokens=1000))
    run.check_resume(config(tokens=5000))  # a raised budget may continue the run
    changed = config(seed=1)
    changed["models"]["meta"] = "openai:gpt-4o-mini"
    with pytest.raises(PromptoptError) as info:
        run.check_resume(changed)
    message = str(info.value)
    assert "models.meta" in message and "seed" in message and "budget" not in message.split("Only")[0]
    assert "--run-dir" in message
    extra = {**config(), "new_key": 1}
    with pytest.raises(PromptoptError, match="new_key"):
        run.check_resume(extra)
    run.check_resume(extra, resumable=("budget", "new_key"))


def test_fresh_run_refused_over_a_journal(tmp_path) -> None:
    run = RunDir(tmp_path)
    run.ensure_fresh()
    run.journal_path.touch()
    run.ensure_fresh()  # an empty journal is no run yet
    run.record("generation", n=0)
    with pytest.raises(PromptoptError) as info:
        RunDir(tmp_path).ensure_fresh()
    assert str(tmp_path) in str(info.value) and "--resume" in str(info.value)


# -- journal ------------------------------------------------------------------------------------


def test_journal_round_trip_fsyncs_each_event(tmp_path, monkeypatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    run = RunDir(tmp_path)
    first = run.append("start", seed=3, roles=("meta", "downstream"))
    before = len(synced)
    run.append("score", candidate="abc", value=0.75)
    assert len(synced) == before + 1
    events = RunDir(tmp_path).events()
    assert [e["seq"] for e in events] == [0, 1]
    assert events[0] == first and events[0]["roles"] == ["meta", "downstream"]
    assert events[1]["event"] == "score" and events[1]["value"] == 0.75 and events[1]["t"] > 0
    line = (tmp_path / "journal.jsonl").read_text().splitlines()[1]
    assert list(json.loads(line)) == sorted(json.loads(line))  # sort_keys
    with pytest.raises(ValueError, match="reserved"):
        run.append("x", seq=5)
    with pytest.raises(PromptoptError, match="cannot be written as JSON"):
        run.append("x", value=float("nan"))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_loses_nothing_written(tmp_path) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from promptopt.runs import RunDir
        run = RunDir({str(tmp_path)!r})
        for i in range(25):
            run.append("step", i=i)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert done.returncode == -signal.SIGKILL
    assert [e["i"] for e in RunDir(tmp_path).events()] == list(range(25))


def test_truncated_last_line_is_tolerated_and_flagged(tmp_path) -> None:
    run = RunDir(tmp_path)
    run.append("a", x=1)
    run.append("b", x=2)
    with open(run.journal_path, "a") as handle:
        handle.write('{"event": "c", "seq": 2, "x"')  # a write cut short by a kill
    run.release()  # as the killed writer's exit would
    reader = RunDir(tmp_path)
    with pytest.warns(TruncatedJournalWarning, match="partial last line"):
        events = reader.events()
    assert [e["event"] for e in events] == ["a", "b"] and reader.truncated
    # Appending drops the partial line first and continues the numbering.
    with pytest.warns(TruncatedJournalWarning):
        reader.append("c", x=3)
    assert [e["seq"] for e in RunDir(tmp_path).events()] == [0, 1, 2]
    assert run.journal_path.read_text().endswith('"x": 3}\n')


def test_garbage_in_the_middle_is_an_error_naming_the_line(tmp_path) -> None:
    run = RunDir(tmp_path)
    for i in range(3):
        run.append("step", i=i)
    lines = run.journal_path.read_text().splitlines(keepends=True)
    lines[1] = "not json\n"
    run.journal_path.write_text("".join(lines))
    with pytest.raises(PromptoptError, match=r"journal.jsonl:2: not a valid journal line"):
        RunDir(tmp_path).events()
    lines[1] = json.dumps({"seq": 7, "event": "step"}) + "\n"
    run.journal_path.write_text("".join(lines))
    with pytest.raises(PromptoptError, match=r"journal.jsonl:2: expected seq 1"):
        RunDir(tmp_path).events()


def test_truncate_to_keeps_the_first_events(tmp_path) -> None:
    run = RunDir(tmp_path)
    for i in range(5):
        run.append("step", i=i)
    run.truncate_to(2)
    run.append("step", i=99)
    assert [(e["seq"], e["i"]) for e in RunDir(tmp_path).events()] == [(0, 0), (1, 1), (2, 99)]


# -- replay -------------------------------------------------------------------------------------


def start(path, cfg: dict, resume: bool = False) -> RunDir:
    """What ``promptopt optimize`` does with a run directory before the optimizer starts."""
    run = RunDir(path)
    if resume:
        run.check_resume(cfg)
    else:
        run.ensure_fresh()
    run.write_config(cfg)
    return run


def record_run(run: RunDir, n: int, score: float = 0.5) -> None:
    run.record("start", seed=0)
    for g in range(n):
        run.record("generation", n=g, survivors=("a", "b"), best={"score": score, "hash": "h"})


def test_journal_replay_expect() -> None:
    replay = JournalReplay([{"seq": 0, "t": 1.0, "event": "x", "v": [1, 2]}])
    assert replay.expect("x", v=(1, 2)) and replay.done
    assert replay.expect("y") is False
    with pytest.raises(PromptoptError, match="field 'v'"):
        JournalReplay([{"seq": 0, "t": 1.0, "event": "x", "v": 1}]).expect("x", v=1.0)
    with pytest.raises(PromptoptError, match="field 'event'"):
        JournalReplay([{"seq": 0, "t": 1.0, "event": "x"}]).expect("y")
    with pytest.raises(PromptoptError, match="field 'w'"):
        JournalReplay([{"seq": 0, "t": 1.0, "event": "x"}]).expect("x", w=None)


def test_replaying_identical_events_writes_nothing(tmp_path) -> None:
    run = start(tmp_path, config())
    record_run(run, 3)
    before = run.journal_path.read_bytes()
    run.release()  # the first session ends (a second writer would be refused)
    resumed = start(tmp_path, config(tokens=9000), resume=True)
    assert resumed.replaying
    stored = resumed.record("start", seed=0)
    assert stored is not None and stored["seq"] == 0
    replayed = [
        resumed.record("generation", n=g, survivors=["a", "b"], best={"hash": "h", "score": 0.5}) for g in range(3)
    ]
    assert [e["seq"] for e in replayed if e] == [1, 2, 3]
    assert not resumed.replaying
    assert run.journal_path.read_bytes() == before
    assert resumed.read_config()["budget"] == config(tokens=9000)["budget"]


def test_a_differing_event_refuses_the_resume(tmp_path) -> None:
    run = start(tmp_path, config())
    record_run(run, 2, score=0.5)
    run.release()  # the first session ends (a second writer would be refused)
    resumed = start(tmp_path, config(), resume=True)
    with pytest.raises(PromptoptError) as info:
        record_run(resumed, 2, score=0.625)
    message = str(info.value)
    assert "seq 1" in message and "field 'best'" in message and "cannot be resumed faithfully" in message


def test_events_after_the_stored_ones_are_appended(tmp_path) -> None:
    run = start(tmp_path, config())
    record_run(run, 2)
    with open(run.journal_path, "a") as handle:
        handle.write('{"event": "gen')  # killed mid-write
    run.release()  # the first session ends (a second writer would be refused)
    resumed = start(tmp_path, config(), resume=True)
    with pytest.warns(TruncatedJournalWarning):
        record_run(resumed, 4)
    resumed.record("done", best="h")
    events = RunDir(tmp_path).events()
    assert [e["seq"] for e in events] == list(range(6))
    assert [e.get("n") for e in events] == [None, 0, 1, 2, 3, None]
    assert events[-1]["event"] == "done"


def test_resume_refused_when_config_differs(tmp_path) -> None:
    run = start(tmp_path, config())
    record_run(run, 1)
    with pytest.raises(PromptoptError, match="seed"):
        start(tmp_path, config(seed=4), resume=True)


def test_notes_are_appended_and_never_replayed(tmp_path) -> None:
    run = start(tmp_path, config())
    run.record("start", seed=0)
    run.note("spend", usage={"downstream": {"requests": 10}})
    run.record("generation", n=0)
    run.note("spend", usage={"downstream": {"requests": 20}})
    run.release()  # the first session ends (a second writer would be refused)
    resumed = start(tmp_path, config(), resume=True)
    resumed.record("start", seed=0)
    resumed.note("spend", usage={"downstream": {"requests": 20, "cache_hits": 10}})  # differs: fine
    resumed.record("generation", n=0)
    assert not resumed.replaying
    resumed.record("generation", n=1)
    events = RunDir(tmp_path).events()
    assert [(e["seq"], e["event"], e.get("note", False)) for e in events] == [
        (0, "start", False), (1, "spend", True), (2, "generation", False), (3, "spend", True),
        (4, "spend", True), (5, "generation", False),
    ]
    with pytest.raises(ValueError, match="reserved"):
        resumed.note("spend", note="x")


# -- outputs ------------------------------------------------------------------------------------


def test_write_summary_and_artifacts(tmp_path) -> None:
    run = RunDir(tmp_path)
    summary = run.write_summary({"best": {"score": 0.8}, "stop_reason": "token budget reached"})
    assert summary == tmp_path / "summary.json"
    assert json.loads(summary.read_text())["best"] == {"score": 0.8}
    assert summary.read_text().startswith("{\n  ")
    best = run.write_artifact("best", SavedText("B"))
    front = run.write_artifact("front/01", SavedText("F"))
    assert best == tmp_path / "artifacts" / "best.json" and best.read_text() == "B"
    assert front == tmp_path / "artifacts" / "front" / "01.json" and front.read_text() == "F"
    for bad in ("../escape", "/abs", "", "front//x"):
        with pytest.raises(PromptoptError, match="artifact name"):
            run.write_artifact(bad, SavedText("x"))


def test_plot_progress_writes_png(tmp_path) -> None:
    path = plot_progress(
        tmp_path / "progress.png",
        [(0, 0.5, 0.4), (1, 0.6, 0.45), (2, 0.6, 0.5)],
        [(120, 0.6), (40, 0.55), (15, 0.4)],
    )
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    empty = plot_progress(tmp_path / "sub" / "empty.png", [], [])
    assert empty.read_bytes()[:8] == PNG_SIGNATURE
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["empty.png", "progress.png", "sub"]
    run = RunDir(tmp_path / "run")
    assert run.plot_progress(None, [(0, 0.5, 0.5)], []) == run.progress_path
    assert run.progress_path.read_bytes()[:8] == PNG_SIGNATURE
