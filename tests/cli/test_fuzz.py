"""Fuzzing the CLI as a user types it (issue 14): random flags, values and file contents for
every command. Whatever comes in, the command ends in time with a documented exit code
(0 done, 1 the work failed, 2 bad input; see the README's "Exit codes") and, when it fails, one
``error:`` line and no traceback. Models point at a loopback port nothing listens on, so no
example waits on a model; the examples are derandomized, so CI sees the same ones every run."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

NOWHERE = "openai:test-model@http://127.0.0.1:9/v1?max_attempts=1"

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
FIELDS = st.sampled_from(["text", "label", "input", "target", "output", "uid", "prompt", "items", "name",
                          "schema_version", "instruction", "reference"])
ROWS = st.lists(st.dictionaries(FIELDS, JSON_VALUES, max_size=5), max_size=5).map(
    lambda rows: "".join(json.dumps(r) + "\n" for r in rows).encode()
)
FILE_BYTES = st.one_of(
    st.binary(max_size=120),
    st.text(max_size=120).map(lambda t: t.encode("utf-8", "surrogatepass")),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    ROWS,
    st.integers(1, 120_000).map(lambda n: ("[" * n + "]" * n).encode()),
    st.sampled_from([b"", b"\xef\xbb\xbf{}", b"\xff\xfe\x00", b'{"schema_version": true}', b"\n\n\n"]),
)
# mostly values a flag accepts, so that examples get past option parsing into the files and the work
INTS = st.one_of(st.integers(1, 4), st.integers(1, 4), st.integers(-3, 10**12), st.integers(-2**70, 2**70).map(str),
                 st.sampled_from(["", "x", "1e9", "0x10", "nan", "١٢", " 4", "1_000"]))
SMALL = st.one_of(st.integers(-2, 3), st.sampled_from(["", "x", "99999999999999999999", "-0"]))
FLOATS = st.sampled_from(["nan", "inf", "-inf", "-1", "1e309", "0.5", "abc", "", "2.5"])
TEXT = st.text(max_size=30).filter(lambda t: "\x00" not in t)


def file_arg(name: str):
    return st.tuples(st.just("file"), st.just(name), FILE_BYTES)


TASKS = st.one_of(st.just("demo_sentiment"), st.just("brief_summary"), TEXT, file_arg("data.jsonl"))
COMMON = {"--no-cache": st.just(None)}
#: Commands that talk to a model always get one that answers at once (refused), never the
#: embedded default: an unbounded optimize on it is long work, not a hang.
TAKES_A_MODEL = {("eval",), ("compare",), ("optimize",), ("rubric", "refine"), ("generate",), ("plan", "run")}
COMMANDS = {
    ("eval",): ([file_arg("prompt.txt") | file_arg("artifact.json")], {
        "--task": TASKS, "--split": st.sampled_from(["dev", "test", "train", ""]) | TEXT, "--limit": INTS,
        "--min-score": FLOATS, "--max-tokens": INTS, "--temperature": FLOATS, "--renderer": TEXT,
        "--input-field": TEXT, "--target-field": TEXT, "--json": st.just(None), **COMMON}),
    ("compare",): ([file_arg("a.txt"), file_arg("b.json")], {
        "--task": TASKS, "--limit": INTS, "--max-tokens": INTS, **COMMON}),
    ("optimize",): ([], {
        "--task": TASKS, "--optimizer": st.sampled_from(["capo", "opro", "evoprompt-ga", "evoprompt-de", "initial",
                                                         "mpo"]) | TEXT,
        "--population": INTS, "--offspring": INTS, "--block-size": INTS, "--max-blocks": INTS, "--max-shots": INTS,
        "--dev-size": INTS, "--max-tokens": INTS, "--meta-max-tokens": INTS, "--budget-tokens": INTS,
        "--max-calls": INTS, "--max-time": FLOATS, "--seed": INTS, "--prompt": TEXT, "--renderer": TEXT,
        "--out": st.sampled_from(["out/best.json", ".", "prompt.txt/x.json"]),
        "--run-dir": st.sampled_from(["run", "prompt.txt", "."]), "--resume": st.just(None),
        "--json": st.just(None), **COMMON}),
    ("rubric", "refine"): ([], {
        "--task": st.just("brief_summary") | TEXT, "--outputs": file_arg("outputs.jsonl"),
        "--rubric": file_arg("rubric.json"), "--rounds": SMALL, "--samples": SMALL, "--seed": INTS,
        "--out": st.sampled_from(["rubric-out.json", "."]), **COMMON}),
    ("tasks",): ([], {"--data-dir": st.tuples(st.just("dir"), FILE_BYTES), "--json": st.just(None)}),
    ("cache", "stats"): ([], {"--path": file_arg("cache.sqlite3") | st.just("new/cache.sqlite3"),
                              "--json": st.just(None)}),
    ("generate",): ([TEXT], {"--max-tokens": INTS, "--temperature": FLOATS, "--seed": INTS, **COMMON}),
    ("plan", "run"): ([], {
        "--agents": st.sampled_from(["greedy", "claims", "random", "capo", "coela"]) | TEXT,
        "--episodes": SMALL, "--rounds": SMALL, "--seeds": TEXT, "--suite": st.just("test24") | TEXT,
        "--n-agents": SMALL, "--out": st.sampled_from(["plan", "prompt.txt"])}),
}
INVOCATIONS = st.sampled_from(sorted(COMMANDS)).flatmap(
    lambda command: st.tuples(
        st.just(command),
        st.tuples(*COMMANDS[command][0]) if COMMANDS[command][0] else st.just(()),
        st.dictionaries(st.sampled_from(sorted(COMMANDS[command][1])), st.none(), max_size=4).flatmap(
            lambda chosen: st.fixed_dictionaries({flag: COMMANDS[command][1][flag] for flag in chosen})
        ),
    )
)


def _materialize(value, where: Path) -> str | None:
    """A drawn value as a command-line word: files are written into ``where`` first."""
    if isinstance(value, tuple) and value[0] == "file":
        path = where / value[1]
        path.write_bytes(value[2])
        return str(path)
    if isinstance(value, tuple) and value[0] == "dir":
        task = where / "data" / "fuzzed"
        task.mkdir(parents=True, exist_ok=True)
        (task / "dev.jsonl").write_bytes(value[1])
        (task / "test.jsonl").write_bytes(value[1])
        return str(where / "data")
    return None if value is None else str(value)


DEEP = ("[" * 100_000 + "]" * 100_000).encode()


# Hostile inputs found by hand before the fuzz existed: always tried, before the drawn ones.
@example((("optimize",), (), {"--population": "1000000000"}))
@example((("eval",), (("file", "artifact.json", DEEP),), {"--task": "demo_sentiment"}))
@example((("rubric", "refine"), (), {"--task": "brief_summary", "--rubric": ("file", "rubric.json", b'{"a": "caf\xe9"}'),
                                     "--outputs": ("file", "outputs.jsonl", b'{"uid": "brief_summary:1", "output": "x"}\n')}))
@example((("tasks",), (), {"--data-dir": ("dir", b'{"input": ' + DEEP + b', "target": "a"}\n')}))
@example((("compare",), (("file", "a.txt", b"A."), ("file", "b.txt", b"B.")), {"--task": "ab\ncd\u2028"}))  # found by this fuzz
@pytest.mark.timeout(900)
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(INVOCATIONS)
def test_any_invocation_ends_in_time_with_a_documented_exit_and_no_traceback(home, invocation):
    command, positionals, flags = invocation
    with tempfile.TemporaryDirectory() as folder:
        where = Path(folder)
        (where / "prompt.txt").write_text("Label the sentiment.")
        args = [*command, *(_materialize(p, where) for p in positionals)]
        args += ["--model", NOWHERE] if command in TAKES_A_MODEL else []
        for flag, value in flags.items():
            word = _materialize(value, where)
            args += [flag] if word is None else [flag, word]
        result = subprocess.run([sys.executable, "-m", "promptopt.cli", *args], capture_output=True, text=True,
                                env={**home, "HOME": folder, "XDG_CACHE_HOME": str(where / "cache")},
                                cwd=folder, timeout=90, stdin=subprocess.DEVNULL)
    event(f"{' '.join(command)} exit {result.returncode}")  # shown by --hypothesis-show-statistics
    assert result.returncode in (0, 1, 2), (args, result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, (args, result.stderr[-2000:])
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        assert lines and lines[-1].startswith("error: "), (args, result.stderr[-2000:])
        assert sum(line.startswith("error: ") for line in lines) == 1, (args, result.stderr[-2000:])
