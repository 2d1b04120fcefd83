"""Load a standard task from the Hugging Face Hub with nothing but ``urllib``.

Why not the ``datasets`` library: it is a heavy dependency for reading two files. A split's file
(Parquet or JSONL) is downloaded once from ``{endpoint}/datasets/{repo}/resolve/{revision}/{path}``
into the user cache directory, then mapped to our schema by the same code that reads local files,
so field and label errors are reported the same way.

``HF_ENDPOINT`` selects a mirror (as in ``huggingface_hub``), ``HF_TOKEN`` is sent when set, and
``PROMPTOPT_DATASETS_CACHE`` moves the download cache.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Mapping, Sequence

import platformdirs

from promptopt.errors import PromptoptError
from promptopt.tasks.loaders import DataError, Records, examples_from_records, read_records, to_text
from promptopt.tasks.records import Example, SourceInfo
from promptopt.tasks.standard import HFSource, TaskDefinition
from promptopt.tasks.task import Task

DEFAULT_ENDPOINT = "https://huggingface.co"
CACHE_ENV = "PROMPTOPT_DATASETS_CACHE"
DATA_DIR_HINT = (
    "Copy the task's data into a folder as {name}/dev.jsonl and {name}/test.jsonl (one JSON "
    "object per line) and pass --data-dir FOLDER or set PROMPTOPT_DATA_DIR=FOLDER."
)
_TIMEOUT_S = 60.0


def datasets_cache_dir() -> Path:
    """``$PROMPTOPT_DATASETS_CACHE``, else ``<user cache dir>/promptopt/datasets``."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("promptopt")) / "datasets"


def _safe(part: str) -> str:
    """A path component for a revision such as ``refs/convert/parquet``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", part)


def cached_path(source: HFSource, split: str, *, cache_dir: Path | None = None) -> Path:
    """Where a split's file is (or will be) cached."""
    root = cache_dir if cache_dir is not None else datasets_cache_dir()
    return root / source.repo / _safe(source.revision) / source.file_for(split)


def file_url(source: HFSource, split: str, *, endpoint: str | None = None) -> str:
    base = (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    revision = urllib.parse.quote(source.revision, safe="")
    path = urllib.parse.quote(source.file_for(split))
    return f"{base}/datasets/{source.repo}/resolve/{revision}/{path}"


def fetch(
    source: HFSource,
    split: str,
    *,
    task_name: str,
    cache_dir: Path | None = None,
    endpoint: str | None = None,
) -> Path:
    """The local path of a split's file, downloading it on the first use."""
    target = cached_path(source, split, cache_dir=cache_dir)
    if target.is_file():
        return target
    url = file_url(source, split, endpoint=endpoint)
    headers = {"User-Agent": "promptopt"}
    token = os.environ.get("HF_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    hint = DATA_DIR_HINT.format(name=task_name)
    partial: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            # Write next to the target and rename, so an interrupted download never looks cached.
            with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as tmp:
                partial = tmp.name
                shutil.copyfileobj(response, tmp)
        os.replace(partial, target)
        partial = None
    except urllib.error.HTTPError as exc:
        raise PromptoptError(
            f"Could not fetch the data of task '{task_name}' from {url}: HTTP {exc.code} "
            f"{exc.reason}. {hint}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PromptoptError(
            f"Could not fetch the data of task '{task_name}' from {url} ({reason}); is the "
            f"network reachable? {hint}"
        ) from None
    finally:
        if partial is not None:
            Path(partial).unlink(missing_ok=True)
    return target


def _after_hashes(text: str) -> str:
    """GSM8K's final answer: the text after the last ``####``, without thousands commas."""
    _, sep, tail = text.rpartition("####")
    return tail.strip().replace(",", "") if sep else text.strip()


_TRANSFORMS = {"after_hashes": _after_hashes}


def map_records(records: Records, source: HFSource, *, target_field: str) -> Records:
    """Rename dataset columns to our fields and map label ids/names to our labels."""
    if source.target_transform is not None and source.target_transform not in _TRANSFORMS:
        raise PromptoptError(f"unknown target transform '{source.target_transform}'")
    if target_field not in source.fields:
        raise PromptoptError(f"the source {source.location} maps no column to our field '{target_field}'")
    target_column = source.fields[target_field]
    if records.columns is not None:
        for ours, theirs in source.fields.items():
            if theirs not in records.columns:
                raise DataError(
                    records.path,
                    f"column '{theirs}' (for our field '{ours}') is missing; the columns are: "
                    f"{', '.join(records.columns)}",
                    field=theirs,
                )
    rows: list[tuple[int, Mapping[str, Any]]] = []
    for number, record in records.rows:
        mapped: dict[str, Any] = {}
        for ours, theirs in source.fields.items():
            if theirs not in record:
                raise DataError(
                    records.path, f"missing; the record has: {', '.join(record)}",
                    line=number, field=theirs, unit=records.unit,
                )
            mapped[ours] = record[theirs]
        mapped[target_field] = _map_target(records, number, source, target_column, mapped[target_field])
        rows.append((number, mapped))
    return Records(path=records.path, unit=records.unit, rows=tuple(rows))


def _map_target(records: Records, number: int, source: HFSource, column: str, value: Any) -> str:
    try:
        text = to_text(value).strip()
    except ValueError as exc:
        raise DataError(records.path, str(exc), line=number, field=column, unit=records.unit) from None
    if source.label_map is not None:
        if text not in source.label_map:
            known = ", ".join(f"{k} → {v}" for k, v in source.label_map.items())
            raise DataError(
                records.path,
                f"value '{text}' has no label mapping ({known})",
                line=number,
                field=column,
                unit=records.unit,
            )
        text = source.label_map[text]
    if source.target_transform is not None:
        text = _TRANSFORMS[source.target_transform](text)
    return text


def _sample(rows: Sequence[int], size: int | None, rng: random.Random) -> list[int]:
    """A seeded sample of row indices, kept in file order."""
    if size is None or size >= len(rows):
        return list(rows)
    return sorted(rng.sample(list(rows), size))


def select_splits(
    dev_records: Records, test_records: Records | None, source: HFSource
) -> tuple[Records, Records]:
    """Seeded dev/test samples; one shared split is carved into two disjoint parts."""
    rng = random.Random(source.seed)

    def subset(records: Records, keep: Sequence[int]) -> Records:
        return Records(records.path, records.unit, tuple(records.rows[i] for i in keep), records.columns)

    if test_records is None:
        n = len(dev_records.rows)
        order = list(range(n))
        rng.shuffle(order)
        if source.dev_size is None or source.test_size is None or source.dev_size + source.test_size > n:
            dev_n = n // 2
            test_n = n - dev_n
        else:
            dev_n, test_n = source.dev_size, source.test_size
        dev_idx = sorted(order[:dev_n])
        test_idx = sorted(order[dev_n : dev_n + test_n])
        return subset(dev_records, dev_idx), subset(dev_records, test_idx)
    dev_idx = _sample(range(len(dev_records.rows)), source.dev_size, rng)
    test_idx = _sample(range(len(test_records.rows)), source.test_size, rng)
    return subset(dev_records, dev_idx), subset(test_records, test_idx)


def examples_from_files(
    definition: TaskDefinition, dev_file: Path, test_file: Path | None
) -> tuple[list[Example], list[Example]]:
    """Map downloaded split files (``test_file`` None: carve both from ``dev_file``)."""
    source = definition.hf
    if source is None:
        raise PromptoptError(f"task '{definition.name}' has no Hugging Face source")
    dev_raw = map_records(read_records(dev_file), source, target_field=definition.target_field)
    test_raw = (
        map_records(read_records(test_file), source, target_field=definition.target_field)
        if test_file is not None
        else None
    )
    dev_rows, test_rows = select_splits(dev_raw, test_raw, source)
    dev, test = (
        examples_from_records(
            rows,
            input_fields=definition.input_fields,
            target_field=definition.target_field,
            labels=definition.labels,
            id_prefix=f"{definition.name}/{split}",
        )
        for rows, split in ((dev_rows, source.dev_split), (test_rows, source.test_split))
    )
    return dev, test


def load_hf_task(
    definition: TaskDefinition, *, cache_dir: Path | None = None, endpoint: str | None = None
) -> Task:
    """Download (or reuse the cached) files of a standard task and build it."""
    source = definition.hf
    if source is None:
        raise PromptoptError(
            f"task '{definition.name}' has no download source. "
            + DATA_DIR_HINT.format(name=definition.name)
        )
    dev_file = fetch(source, source.dev_split, task_name=definition.name, cache_dir=cache_dir, endpoint=endpoint)
    test_file = None
    if source.test_split != source.dev_split:
        test_file = fetch(
            source, source.test_split, task_name=definition.name, cache_dir=cache_dir, endpoint=endpoint
        )
    dev, test = examples_from_files(definition, dev_file, test_file)
    info = SourceInfo(
        kind="huggingface",
        location=source.location,
        extra={"dev_split": source.dev_split, "test_split": source.test_split, "seed": str(source.seed)},
    )
    return definition.build(dev, test, info)
