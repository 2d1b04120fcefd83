"""Named local models: ``local:qwen2.5-coder-0.5b`` instead of a path to a GGUF file.

A catalog entry pins a file by name, size and sha256. The file lives in the models directory
(``$PROMPTOPT_MODELS_DIR``, default ``<user cache dir>/promptopt/models``); promptopt never
downloads it during a run. The first use checks the size and the sha256 and records the check
next to the file, so later runs only compare the size and modification time.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from promptopt.errors import ModelSpecError

__all__ = ["CATALOG", "CatalogEntry", "models_dir", "resolve_named_model"]

#: How to fetch a missing catalog file (a script of this repository; it verifies what it writes).
FETCH_COMMAND = "python bench/get_models.py {name}"


@dataclass(frozen=True)
class CatalogEntry:
    """One known GGUF: what it is and exactly which bytes it must be."""

    name: str
    file_name: str
    size: int
    sha256: str
    description: str


CATALOG: dict[str, CatalogEntry] = {
    entry.name: entry
    for entry in (
        CatalogEntry(
            name="qwen2.5-coder-0.5b",
            file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M: follows meta, judge and planner formats",
        ),
    )
}


def models_dir() -> Path:
    """Where catalog models are kept."""
    configured = os.environ.get("PROMPTOPT_MODELS_DIR")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("promptopt")) / "models"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _recorded_ok(path: Path, entry: CatalogEntry) -> bool:
    try:
        record = json.loads(_stamp(path).read_text())
        stat = path.stat()
    except (OSError, ValueError):
        return False
    return record == {"sha256": entry.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def verify(path: Path, entry: CatalogEntry) -> None:
    """Raise :class:`ModelSpecError` unless ``path`` holds exactly the entry's bytes."""
    fetch = FETCH_COMMAND.format(name=entry.name)
    size = path.stat().st_size
    if size != entry.size:
        raise ModelSpecError(
            f"Local model '{entry.name}' at {path} has {size:,} bytes, expected {entry.size:,} "
            f"(an interrupted copy?). Delete it and fetch it again: {fetch}"
        )
    if _recorded_ok(path, entry):
        return
    actual = file_sha256(path)
    if actual != entry.sha256:
        raise ModelSpecError(
            f"Local model '{entry.name}' at {path} has sha256 {actual}, expected {entry.sha256}: "
            f"the file is not the catalog's. Delete it and fetch it again: {fetch}"
        )
    stat = path.stat()
    try:
        _stamp(path).write_text(json.dumps({"sha256": entry.sha256, "size": stat.st_size,
                                            "mtime_ns": stat.st_mtime_ns}))
    except OSError:
        pass  # a read-only models directory: the hash is simply checked again next time


def resolve_named_model(name: str) -> Path:
    """The verified GGUF of catalog entry ``name``; errors say how to get it."""
    entry = CATALOG.get(name)
    if entry is None:
        raise ModelSpecError(
            f"Unknown local model '{name}' (known: {', '.join(sorted(CATALOG))}; "
            "or give a path to a .gguf file)"
        )
    path = models_dir() / entry.file_name
    if not path.is_file():
        raise ModelSpecError(
            f"Local model '{name}' is not in {path.parent} (looked for {entry.file_name}). "
            f"Fetch it with: {FETCH_COMMAND.format(name=name)} "
            "(or set PROMPTOPT_MODELS_DIR to the folder that holds it)"
        )
    verify(path, entry)
    return path
