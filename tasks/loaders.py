"""Read examples from JSONL, CSV/TSV and Parquet files through a field mapping.

Data errors are the commonest failure a user meets, so every one of them names the file, the line
(or Parquet row) and the field involved: the CLI prints :class:`DataError` and exits with code 2.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, Sequence

from promptopt import jsonio
from promptopt.errors import MissingExtraError, PromptoptError
from promptopt.tasks.records import Example

Format = Literal["jsonl", "csv", "tsv", "parquet"]

#: File suffixes recognised when ``format`` is not given.
SUFFIX_FORMATS: Mapping[str, Format] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}

#: At most this many distinct targets make a label set when one is inferred.
MAX_INFERRED_LABELS = 20


class DataError(PromptoptError, ValueError):
    """A data file cannot be used; the message names the file, line (or row) and field."""

    #: Bad input data exits like a bad flag (read by the CLI).
    exit_code: int = 2

    def __init__(
        self,
        path: str | Path,
        detail: str,
        *,
        line: int | None = None,
        field: str | None = None,
        unit: Literal["line", "row"] = "line",
    ) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.unit = unit
        self.detail = detail
        if line is None:
            where = f"{self.path}: "
        elif unit == "row":
            where = f"{self.path}: row {line}: "
        else:
            where = f"{self.path}:{line}: "
        what = f"field '{field}': " if field is not None else ""
        super().__init__(where + what + detail)


@dataclass(frozen=True)
class Records:
    """Raw records of a file, each with its 1-based line (text formats) or row (Parquet)."""

    path: Path
    unit: Literal["line", "row"]
    rows: tuple[tuple[int, Mapping[str, Any]], ...]
    #: Column names when the format has a header/schema (CSV, Parquet); None for JSONL.
    columns: tuple[str, ...] | None = None


def detect_format(path: str | Path, format: str | None = None) -> Format:
    """The explicit ``format``, else the one the file suffix implies."""
    if format is not None:
        fmt = format.lower().lstrip(".")
        if fmt in ("jsonl", "csv", "tsv", "parquet"):
            return fmt  # type: ignore[return-value]
        raise PromptoptError(f"unknown data format '{format}': use jsonl, csv, tsv or parquet")
    suffix = Path(path).suffix.lower()
    if suffix in SUFFIX_FORMATS:
        return SUFFIX_FORMATS[suffix]
    raise PromptoptError(
        f"{path}: cannot tell the data format from the suffix '{suffix}'; rename the file to "
        f"{', '.join(SUFFIX_FORMATS)} or pass the format explicitly (jsonl, csv, tsv, parquet)"
    )


def read_records(path: str | Path, *, format: str | None = None) -> Records:
    """Read a file's raw records (no field mapping); blank lines are skipped."""
    path = Path(path)
    fmt = detect_format(path, format)
    if not path.is_file():
        what = "a directory" if path.is_dir() else "not found"
        raise DataError(path, f"{what}; expected a {fmt} data file")
    if fmt == "parquet":
        return _read_parquet(path)
    text = _decode(path)
    if fmt == "jsonl":
        return _read_jsonl(path, text)
    return _read_csv(path, text, delimiter="\t" if fmt == "tsv" else ",")


def _decode(path: Path) -> str:
    """UTF-8 text of the file; a bad byte is reported with its line number."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data[:offset].count(b"\n") + 1
        raise DataError(
            path,
            f"not valid UTF-8 (byte 0x{data[offset]:02x}); re-save the file as UTF-8",
            line=line,
        ) from None


def _read_jsonl(path: Path, text: str) -> Records:
    rows: list[tuple[int, Mapping[str, Any]]] = []
    # Split on "\n" only: str.splitlines would also split on U+2028 inside JSON strings.
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            record = jsonio.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=number
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                path,
                f"expected a JSON object per line, got {type(record).__name__}",
                line=number,
            )
        rows.append((number, record))
    return Records(path=path, unit="line", rows=tuple(rows))


def _read_csv(path: Path, text: str, *, delimiter: str) -> Records:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[tuple[int, Mapping[str, Any]]] = []
    last = 0  # physical line where the previous record ended
    try:
        for values in reader:
            start, last = last + 1, reader.line_num
            if not values or all(not v.strip() for v in values):
                continue
            if header is None:
                header = [v.strip() for v in values]
                seen = set()
                for name in header:
                    if name in seen:
                        raise DataError(path, f"column '{name}' appears twice in the header", line=start)
                    seen.add(name)
                continue
            if len(values) != len(header):
                raise DataError(
                    path,
                    f"{len(values)} values but the header (line 1) has {len(header)} columns",
                    line=start,
                )
            rows.append((start, dict(zip(header, values))))
    except csv.Error as exc:
        raise DataError(path, f"malformed CSV: {exc}", line=reader.line_num) from None
    return Records(path=path, unit="line", rows=tuple(rows), columns=tuple(header or ()))


def _read_parquet(path: Path) -> Records:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise _MissingPyarrow(path) from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DataError(path, f"cannot read as Parquet: {exc}") from None
    rows = tuple((i, record) for i, record in enumerate(table.to_pylist(), start=1))
    return Records(path=path, unit="row", rows=rows, columns=tuple(table.column_names))


class _MissingPyarrow(MissingExtraError):
    def __init__(self, path: Path) -> None:
        self.extra = "parquet"
        self.module = "pyarrow"
        PromptoptError.__init__(
            self,
            f"Reading the Parquet file {path} needs pyarrow, which is not installed. Install it "
            f"with: pip install pyarrow  (or: pip install 'promptopt[parquet]'), or convert the "
            f"file to JSONL or CSV.",
        )


def to_text(value: Any) -> str:
    """A field value as text: strings as-is, numbers as their shortest form (24, 24.0 → "24").

    Raises ValueError for values that have no sensible text form (null, lists, objects).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"value is {value}, not a usable number")
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("binary value is not valid UTF-8") from None
    if value is None:
        raise ValueError("value is null")
    raise ValueError(f"value is a {type(value).__name__}, expected text or a number")


def load_examples(
    path: str | Path,
    *,
    input_fields: Sequence[str],
    target_field: str,
    labels: Sequence[str] | None = None,
    format: str | None = None,
    id_prefix: str | None = None,
) -> list[Example]:
    """Examples from a JSONL/CSV/TSV/Parquet file, mapping its fields to inputs and target.

    ``uid`` is ``"{id_prefix or file stem}:{line}"`` so it stays stable while the file does.
    Targets are stripped of surrounding whitespace; inputs are kept verbatim.
    """
    records = read_records(path, format=format)
    return examples_from_records(
        records,
        input_fields=input_fields,
        target_field=target_field,
        labels=labels,
        id_prefix=id_prefix,
    )


def examples_from_records(
    records: Records,
    *,
    input_fields: Sequence[str],
    target_field: str,
    labels: Sequence[str] | None = None,
    id_prefix: str | None = None,
) -> list[Example]:
    """Apply the field mapping to raw records (shared by files and downloaded datasets)."""
    path = records.path
    if not input_fields:
        raise PromptoptError("at least one input field is needed")
    if not records.rows:
        raise DataError(path, "no examples (the file is empty, blank, or has only a header)")
    wanted = [*input_fields, target_field]
    if records.columns is not None:
        for name in wanted:
            if name not in records.columns:
                raise DataError(
                    path,
                    f"missing; the columns are: {', '.join(records.columns) or '(none)'}",
                    line=1 if records.unit == "line" else None,
                    field=name,
                )
    label_set = tuple(labels) if labels is not None else None
    prefix = id_prefix or path.stem
    examples: list[Example] = []
    for number, record in records.rows:
        values: dict[str, str] = {}
        for name in wanted:
            if name not in record:
                present = ", ".join(record) or "(none)"
                raise DataError(
                    path,
                    f"missing; the record has: {present}",
                    line=number,
                    field=name,
                    unit=records.unit,
                )
            try:
                values[name] = to_text(record[name])
            except ValueError as exc:
                raise DataError(path, str(exc), line=number, field=name, unit=records.unit) from None
        target = values[target_field].strip()
        if not target:
            raise DataError(path, "empty target", line=number, field=target_field, unit=records.unit)
        if label_set is not None and target not in label_set:
            raise DataError(
                path,
                f"value '{target}' is not in the label set ({', '.join(label_set)})",
                line=number,
                field=target_field,
                unit=records.unit,
            )
        inputs = {name: values[name] for name in input_fields}
        examples.append(Example(inputs=inputs, target=target, uid=f"{prefix}:{number}"))
    return examples


def infer_labels(
    targets: Iterable[str], *, max_labels: int = MAX_INFERRED_LABELS
) -> tuple[str, ...] | None:
    """The sorted distinct targets when there are at most ``max_labels``, else None (free text)."""
    distinct: set[str] = set()
    for target in targets:
        distinct.add(target)
        if len(distinct) > max_labels:
            return None
    return tuple(sorted(distinct)) if distinct else None


def infer_label_set(
    path: str | Path,
    *,
    target_field: str,
    format: str | None = None,
    max_labels: int = MAX_INFERRED_LABELS,
) -> tuple[str, ...] | None:
    """Label set of a file's target field (None when it looks like free text)."""
    records = read_records(path, format=format)
    targets = []
    for number, record in records.rows:
        if target_field not in record:
            raise DataError(
                path, f"missing; the record has: {', '.join(record)}", line=number,
                field=target_field, unit=records.unit,
            )
        try:
            targets.append(to_text(record[target_field]).strip())
        except ValueError as exc:
            raise DataError(path, str(exc), line=number, field=target_field, unit=records.unit) from None
    return infer_labels(targets, max_labels=max_labels)
