"""Read a file of model outputs to judge (``promptopt rubric refine --outputs FILE``).

JSONL, one object per line: ``output`` (the text) and either ``uid`` (an example of the task, dev
or test) or ``input`` (a string for a one-field task, or an object of input fields). Optional:
``reference`` (a reference answer) and ``prompt`` (the prompt that produced the output; outputs
of one prompt count as one when sampling). Errors name the file, the line and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptopt.errors import PromptoptError
from promptopt.tasks.records import Example
from promptopt.tasks.task import Task

__all__ = ["OutputRecord", "OutputsError", "read_outputs"]


class OutputsError(PromptoptError, ValueError):
    exit_code = 2


@dataclass(frozen=True)
class OutputRecord:
    example: Example
    output: str
    prompt: str
    line: int


def _input_of(value: Any, task: Task, where: str) -> dict[str, str]:
    if isinstance(value, str):
        if len(task.input_fields) != 1:
            raise OutputsError(
                f"{where}: field 'input' must be an object with the fields {', '.join(task.input_fields)}"
            )
        return {task.input_fields[0]: value}
    if isinstance(value, dict):
        missing = [f for f in task.input_fields if not isinstance(value.get(f), str)]
        if missing:
            raise OutputsError(f"{where}: field 'input' lacks the text field(s) {', '.join(missing)}")
        return {f: value[f] for f in task.input_fields}
    raise OutputsError(f"{where}: field 'input' must be a string or an object")


def read_outputs(path: str | Path, task: Task) -> list[OutputRecord]:
    from promptopt.tasks.loaders import read_records

    source = Path(path)
    by_uid = {e.uid: e for e in (*task.dev, *task.test)}
    records: list[OutputRecord] = []
    # the data loader's JSONL reader: UTF-8, blank lines skipped, file:line errors (exit 2)
    for number, row in read_records(source, format="jsonl").rows:
        where = f"{source}:{number}"
        output = row.get("output")
        if not isinstance(output, str):
            raise OutputsError(f"{where}: field 'output' must be a string")
        reference = row.get("reference")
        if reference is not None and not isinstance(reference, str):
            raise OutputsError(f"{where}: field 'reference' must be a string")
        if "uid" in row:
            example = by_uid.get(str(row["uid"]))
            if example is None:
                raise OutputsError(f"{where}: field 'uid' names no example of task '{task.name}': {row['uid']!r}")
        elif "input" in row:
            inputs = _input_of(row["input"], task, where)
            example = Example(inputs, reference or "", f"{source.name}:{number}")
        else:
            raise OutputsError(f"{where}: give field 'uid' (an example of the task) or field 'input'")
        prompt = row.get("prompt", "")
        if not isinstance(prompt, str):
            raise OutputsError(f"{where}: field 'prompt' must be a string")
        records.append(OutputRecord(example, output, prompt, number))
    if not records:
        raise OutputsError(f"{source}: no outputs (the file is empty)")
    return records
