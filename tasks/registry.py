"""Find a task by name, or make one from a user's file, and list what is available.

Resolution order for a name: an explicit data directory, then ``$PROMPTOPT_DATA_DIR``, then the
built-in demo tasks, then tasks that packages provide (the ``promptopt.tasks`` entry-point
group: promptopt's judge-scored tasks come this way, so this layer imports nothing of judging),
then the Hugging Face Hub. A data directory holds one folder per task with
``dev.jsonl`` and ``test.jsonl``; standard names use their definition, other names get their
fields and answer format inferred, so any folder of that shape is a task.
"""

from __future__ import annotations

import os
import random
import warnings
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Protocol, Sequence

from promptopt.errors import PromptoptError
from promptopt.tasks.demo import DEMO_TASKS
from promptopt.tasks.loaders import DataError, infer_labels, load_examples, read_records
from promptopt.tasks.metrics import metric_from_name
from promptopt.tasks.parsers import normalize_number, parser_from_spec
from promptopt.tasks.records import AnswerParser, Example, Metric, SourceInfo
from promptopt.tasks.standard import (
    DEFINITIONS,
    EXACT_SPEC,
    build_task,
    generic_description,
    label_spec,
    number_spec,
)
from promptopt.tasks.task import Task

DATA_DIR_ENV = "PROMPTOPT_DATA_DIR"
#: Entry-point group through which a package adds named tasks (see :class:`TaskProvider`).
TASK_PROVIDERS = "promptopt.tasks"
SPLIT_FILES = ("dev.jsonl", "test.jsonl")

#: Field names tried, in order, when a data folder's task is not a standard one.
INPUT_FIELD_GUESSES = ("text", "question", "input", "sentence")
TARGET_FIELD_GUESSES = ("label", "answer", "target", "output")

#: Default split of a single user file: 30% test, chosen by a shuffle seeded with 0.
DEFAULT_TEST_FRACTION = 0.3
DEFAULT_SPLIT_SEED = 0


@dataclass(frozen=True)
class TaskInfo:
    """One line of ``promptopt tasks``: what a task is and where its data comes from."""

    name: str
    dev_size: int | None
    test_size: int | None
    source: str
    answer_format: str
    description: str = ""

    @property
    def size(self) -> str:
        def show(n: int | None) -> str:
            return "?" if n is None else str(n)

        return f"{show(self.dev_size)}/{show(self.test_size)}"


def resolve_data_dir(data_dir: str | Path | None = None) -> Path | None:
    """The explicit directory, else ``$PROMPTOPT_DATA_DIR``, else None; it must exist."""
    if data_dir is not None:
        origin = "--data-dir"
        path = Path(data_dir).expanduser()
    elif os.environ.get(DATA_DIR_ENV):
        origin = f"${DATA_DIR_ENV}"
        path = Path(os.environ[DATA_DIR_ENV]).expanduser()
    else:
        return None
    if not path.is_dir():
        raise PromptoptError(
            f"The data directory {path} (from {origin}) does not exist or is not a directory; "
            f"expected a folder with one subfolder per task holding dev.jsonl and test.jsonl."
        )
    return path


class TaskProvider(Protocol):
    """A named task a package offers through the :data:`TASK_PROVIDERS` entry-point group (an
    entry names an object with these attributes); loading builds the task only when asked."""

    name: str
    description: str
    dev_size: int
    test_size: int
    answer_format: str

    def load(self) -> Task: ...


@cache
def provided_tasks() -> Mapping[str, TaskProvider]:
    """The tasks installed packages provide, by name (read once per process). A provider that
    fails to load is skipped with a warning: one broken plugin must not hide every task."""
    from importlib.metadata import entry_points

    found: dict[str, TaskProvider] = {}
    for entry in sorted(entry_points(group=TASK_PROVIDERS), key=lambda e: e.name):
        try:
            provider = entry.load()
        except Exception as exc:  # noqa: BLE001 - a plugin's bug, reported and skipped
            warnings.warn(f"task provider {entry.name} ({entry.value}) cannot be loaded: {exc}", stacklevel=2)
            continue
        found.setdefault(provider.name, provider)
    return MappingProxyType(found)


def load_task(name: str, *, data_dir: str | Path | None = None) -> Task:
    """The task ``name``: from the data directory, a built-in demo, or the Hugging Face Hub."""
    directory = resolve_data_dir(data_dir)
    provided = provided_tasks()
    if directory is not None and ((directory / name).is_dir() or name not in {**DEMO_TASKS, **provided}):
        return load_task_from_directory(directory / name, name=name)
    if name in DEMO_TASKS:
        return DEMO_TASKS[name].load()
    if name in provided:
        return provided[name].load()
    if name in DEFINITIONS:
        from promptopt.tasks.huggingface import load_hf_task

        return load_hf_task(DEFINITIONS[name])
    known = ", ".join(sorted([*DEMO_TASKS, *provided, *DEFINITIONS]))
    raise PromptoptError(
        f"Unknown task '{name}'. Known tasks: {known}. For your own data pass a file "
        f"(--task data.jsonl --input-field ... --target-field ...) or a data directory holding "
        f"{name}/dev.jsonl and {name}/test.jsonl (--data-dir or ${DATA_DIR_ENV})."
    )


def _split_paths(task_dir: Path, name: str) -> tuple[Path, Path]:
    paths = tuple(task_dir / file for file in SPLIT_FILES)
    missing = [p for p in paths if not p.is_file()]
    if missing:
        what = "folder is missing" if not task_dir.is_dir() else "file is missing"
        raise PromptoptError(
            f"Task '{name}': {', '.join(str(p) for p in missing)} not found ({what}). Expected "
            f"{task_dir}/dev.jsonl and {task_dir}/test.jsonl, one JSON object per line."
        )
    return paths[0], paths[1]


def load_task_from_directory(task_dir: str | Path, *, name: str | None = None) -> Task:
    """A task from ``{task_dir}/dev.jsonl`` and ``test.jsonl`` (the benchmark data format)."""
    task_dir = Path(task_dir)
    name = name or task_dir.name
    dev_path, test_path = _split_paths(task_dir, name)
    source = SourceInfo(kind="directory", location=str(task_dir))
    definition = DEFINITIONS.get(name) or (DEMO_TASKS[name].definition if name in DEMO_TASKS else None)
    if definition is not None:
        dev, test = (
            load_examples(
                path,
                input_fields=definition.input_fields,
                target_field=definition.target_field,
                labels=definition.labels,
                id_prefix=f"{name}/{split}",
            )
            for path, split in ((dev_path, "dev"), (test_path, "test"))
        )
        return definition.build(dev, test, source)
    input_field, target_field = infer_fields(dev_path)
    dev = load_examples(dev_path, input_fields=(input_field,), target_field=target_field, id_prefix=f"{name}/dev")
    test = load_examples(test_path, input_fields=(input_field,), target_field=target_field, id_prefix=f"{name}/test")
    return _inferred_task(name, (input_field,), target_field, dev, test, source)


def infer_fields(path: Path) -> tuple[str, str]:
    """(input field, target field) of a data file by their conventional names."""
    records = read_records(path)
    if not records.rows:
        raise DataError(path, "no examples (the file is empty or blank)")
    number, first = records.rows[0]
    present = list(first)
    input_field = next((f for f in INPUT_FIELD_GUESSES if f in first), None)
    target_field = next((f for f in TARGET_FIELD_GUESSES if f in first), None)
    if input_field is None or target_field is None:
        missing = "input" if input_field is None else "target"
        guesses = INPUT_FIELD_GUESSES if input_field is None else TARGET_FIELD_GUESSES
        raise DataError(
            path,
            f"cannot tell the {missing} field: expected one of {', '.join(guesses)}, the record has "
            f"{', '.join(present)}. Load it as a file with --input-field/--target-field instead.",
            line=number,
        )
    return input_field, target_field


def _answer_kind(
    targets: Sequence[str], labels: Sequence[str] | None
) -> tuple[tuple[str, ...] | None, Mapping[str, object], str]:
    """(labels, parser spec, metric) for targets: label set if few, numbers, else exact text."""
    if labels is not None:
        return tuple(labels), label_spec(labels), "accuracy"
    inferred = infer_labels(targets)
    if inferred is not None:
        return inferred, label_spec(inferred), "accuracy"
    if targets and all(normalize_number(t) is not None for t in targets):
        return None, number_spec(), "numeric_match"
    return None, EXACT_SPEC, "exact_match"


def _inferred_task(
    name: str,
    input_fields: Sequence[str],
    target_field: str,
    dev: Sequence[Example],
    test: Sequence[Example],
    source: SourceInfo,
    *,
    labels: Sequence[str] | None = None,
    description: str | None = None,
) -> Task:
    targets = [e.target for e in (*dev, *test)]
    label_set, spec, metric = _answer_kind(targets, labels)
    kind = str(spec["kind"])
    return build_task(
        name=name,
        description=description or generic_description(input_fields, target_field, label_set, kind),
        input_fields=input_fields,
        target_field=target_field,
        labels=label_set,
        parser_spec=spec,
        metric=metric,
        dev=dev,
        test=test,
        source=source,
    )


def split_examples(
    examples: Sequence[Example], *, test_fraction: float = DEFAULT_TEST_FRACTION, seed: int = DEFAULT_SPLIT_SEED
) -> tuple[list[Example], list[Example]]:
    """Deterministic dev/test split by a seeded shuffle; each part keeps file order."""
    if not 0.0 < test_fraction < 1.0:
        raise PromptoptError(f"test fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    if len(examples) < 2:
        raise PromptoptError(f"need at least 2 examples to split into dev and test, got {len(examples)}")
    n_test = min(len(examples) - 1, max(1, round(len(examples) * test_fraction)))
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    test_idx = set(order[:n_test])
    dev = [e for i, e in enumerate(examples) if i not in test_idx]
    test = [e for i, e in enumerate(examples) if i in test_idx]
    return dev, test


def load_task_from_file(
    path: str | Path,
    *,
    input_fields: Sequence[str],
    target_field: str,
    labels: Sequence[str] | None = None,
    parser: AnswerParser | Mapping[str, object] | None = None,
    metric: str | Metric | None = None,
    name: str | None = None,
    description: str | None = None,
    test_path: str | Path | None = None,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = DEFAULT_SPLIT_SEED,
    format: str | None = None,
) -> Task:
    """A user's JSONL/CSV/TSV/Parquet file as a task.

    Without ``labels`` the answer format is inferred from the targets: at most 20 distinct values
    make a label set (label parser, accuracy); otherwise numbers (number parser, numeric match) or
    free text (exact parser, exact match). Without ``test_path`` the file is split 70/30 by a
    shuffle seeded with ``seed`` (default 0), so the split is the same on every run.
    """
    path = Path(path)
    name = name or path.stem
    fields = tuple(input_fields)

    def load(file: str | Path) -> list[Example]:
        return load_examples(file, input_fields=fields, target_field=target_field, labels=labels, format=format)

    if test_path is None:
        examples = load(path)
        dev, test = split_examples(examples, test_fraction=test_fraction, seed=seed)
        split = f"{round((1 - test_fraction) * 100)}/{round(test_fraction * 100)} seed {seed}"
        source = SourceInfo(kind="file", location=str(path), extra={"split": split})
    else:
        dev, test = load(path), load(test_path)
        source = SourceInfo(kind="file", location=str(path), extra={"test": str(test_path)})
    task = _inferred_task(
        name, fields, target_field, dev, test, source, labels=labels, description=description
    )
    if parser is not None or metric is not None:
        if isinstance(parser, Mapping):
            parser = parser_from_spec(parser)
        if isinstance(metric, str):
            metric = metric_from_name(metric)
        task = replace(task, parser=parser or task.parser, metric=metric or task.metric)
    return task


def _count_lines(path: Path) -> int | None:
    """Non-blank lines of a JSONL file: its example count, without parsing it."""
    try:
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())
    except OSError:
        return None


def list_tasks(data_dir: str | Path | None = None) -> list[TaskInfo]:
    """Every task a name can load: data-directory folders first, then demos, then the Hub's."""
    infos: list[TaskInfo] = []
    seen: set[str] = set()
    directory = resolve_data_dir(data_dir)
    if directory is not None:
        for task_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
            if not any((task_dir / f).is_file() for f in SPLIT_FILES):
                continue
            infos.append(_directory_info(task_dir))
            seen.add(task_dir.name)
    for name, demo in DEMO_TASKS.items():
        if name not in seen:
            seen.add(name)
            infos.append(
                TaskInfo(
                    name=name,
                    dev_size=demo.dev_size,
                    test_size=demo.test_size,
                    source="builtin",
                    answer_format=demo.definition.answer_format,
                    description=demo.definition.description,
                )
            )
    for name, provider in provided_tasks().items():
        if name not in seen:
            seen.add(name)
            infos.append(TaskInfo(name, provider.dev_size, provider.test_size, "builtin", provider.answer_format,
                                  provider.description))
    for name, definition in DEFINITIONS.items():
        if name in seen or definition.hf is None:
            continue
        hf = definition.hf
        infos.append(
            TaskInfo(
                name=name,
                dev_size=hf.dev_size,
                test_size=hf.test_size,
                source=f"huggingface: {hf.location}",
                answer_format=definition.answer_format,
                description=definition.description,
            )
        )
    return infos


def _directory_info(task_dir: Path) -> TaskInfo:
    name = task_dir.name
    dev_size, test_size = (_count_lines(task_dir / f) if (task_dir / f).is_file() else None for f in SPLIT_FILES)
    source = f"directory: {task_dir}"
    definition = DEFINITIONS.get(name) or (DEMO_TASKS[name].definition if name in DEMO_TASKS else None)
    if definition is not None:
        return TaskInfo(name, dev_size, test_size, source, definition.answer_format, definition.description)
    try:
        task = load_task_from_directory(task_dir, name=name)
    except PromptoptError as exc:
        return TaskInfo(name, dev_size, test_size, source, f"unreadable: {exc}")
    return TaskInfo(name, len(task.dev), len(task.test), source, task.answer_format, task.description)
