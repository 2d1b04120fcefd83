"""What the grid view reads from the cells' folders while other processes run them (issue 17)."""

from __future__ import annotations

import json
import os
import time

from promptopt.benchmark.grid_status import grid_status
from promptopt.benchmark.harness import cell_dir
from promptopt.benchmark.plan import Cell

CELLS = [Cell("capo", "sst2", seed) for seed in range(6)]


def _timing(folder, sessions, age_s):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "timing.json"
    path.write_text(json.dumps({"sessions": sessions}))
    then = time.time() - age_s
    os.utime(path, (then, then))


def _note(folder, prompt_tokens, requests, *, then_cut=False):
    run = folder / "run"
    run.mkdir(parents=True, exist_ok=True)
    usage = {"downstream": {"prompt_tokens": prompt_tokens, "completion_tokens": 10, "requests": requests}}
    lines = [json.dumps({"seq": 0, "event": "data"}),
             json.dumps({"seq": 1, "event": "spend", "note": True, "generation": 0,
                         "usage": {"downstream": {"prompt_tokens": 1, "completion_tokens": 1, "requests": 1}}}),
             json.dumps({"seq": 2, "event": "spend", "note": True, "generation": 1, "usage": usage})]
    text = "\n".join(lines) + "\n" + ('{"seq": 3, "event": "spe' if then_cut else "")
    (run / "journal.jsonl").write_text(text)


def test_done_running_failed_resumed_and_spend_so_far(tmp_path):
    folders = [cell_dir(tmp_path, cell) for cell in CELLS]
    # 0: done (its cell.json), 1: running, 2: killed (a stale heartbeat, search unfinished),
    # 3: searched, waiting for the driver, 4: resumed and running, 5: not started
    folders[0].mkdir(parents=True)
    (folders[0] / "cell.json").write_text(json.dumps({"result": {"tokens": 1000, "calls": 40}}))
    _timing(folders[1], [3.0], 1)
    _note(folders[1], 90, 7, then_cut=True)  # a journal line cut by the write in progress is skipped
    _timing(folders[2], [8.0], 60)
    _note(folders[2], 190, 9)
    _timing(folders[3], [9.0], 1)
    _note(folders[3], 0, 0)
    (folders[3] / "run" / "summary.json").write_text("{}")
    _timing(folders[4], [8.0, 2.0], 1)
    status = grid_status(tmp_path, CELLS, heartbeat_s=5.0)
    assert (status.cells, status.done, status.running, status.failed, status.resumed) == (6, 1, 2, 1, 1)
    assert status.tokens == 1000 + 100 + 200 + 10 and status.requests == 40 + 7 + 9
    assert status.line().startswith("1/6 cells done · 2 running · 1 failed · 1 resumed · 1,310 tokens")
