"""Bad flags and values: one ``error:`` line naming the flag or file, exit 2, no traceback, no
boxed panel (issue 14, rows 7, 13 and 15)."""

from __future__ import annotations

import pytest

CASES = [
    (("eval", "{prompt}", "--task", "demo_sentiment", "--split", "train"), "'--split': choose 'dev' or 'test'"),
    (("eval", "{dir}", "--task", "demo_sentiment"), "is a directory"),
    (("eval", "{prompt}", "--task", "demo_sentiment", "--model", ""), "'--model': the model spec is empty"),
    (("generate", "--model", "openai:m@http://127.0.0.1:PORTX/v1", "hi"), "has an invalid port"),
    (("optimize", "--population", "x"), "'--population'"),
    (("eval", "--no-such-flag"), "No such option: --no-such-flag"),
    (("optimize", "--task", "demo_sentiment", "--resume", "--no-cache"), "Invalid value for --no-cache: --resume replays the journal"),
]


@pytest.mark.parametrize("args, words", CASES, ids=[c[1][:30] for c in CASES])
def test_a_bad_value_is_one_line_naming_it(run_cli, home, tmp_path, args, words):
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Label the sentiment.")
    filled = [a.format(prompt=prompt, dir=tmp_path) for a in args]
    result = run_cli(*filled, env=home)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "╭" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], result.stderr
