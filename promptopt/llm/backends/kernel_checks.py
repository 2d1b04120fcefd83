"""What the load-time kernel checks found, remembered on disk.

On load the engine asks how llama.cpp computes this model here: where a prompt may be cut for
prefix reuse (:func:`.llama_batch.reuse_rule`) and how many sequences one pass may decode
(:func:`.llama_batch.exact_pass_size`). Together about 1.6 s for SmolLM2-135M on 2 cores, paid by
every worker that starts. The answers depend only on the model file, the llama.cpp library, the
CPU and the context settings, so they are kept in one JSON file under the user cache directory
(``$PROMPTOPT_KERNEL_CHECKS`` names another), keyed by a digest of all of those. A missing,
unreadable or foreign file, or any change of those inputs, runs the checks again; the file is
replaced whole (written beside, then renamed), so a reader never sees half of it.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any, Callable

__all__ = ["ENV_VAR", "KernelChecks", "default_path"]

ENV_VAR = "PROMPTOPT_KERNEL_CHECKS"
#: Bumped whenever a check changes what it measures, so older answers are not reused.
CHECKS_VERSION = 1
_FORMAT = "promptopt kernel checks"


def default_path() -> Path:
    """``$PROMPTOPT_KERNEL_CHECKS`` if set, else ``<user cache dir>/promptopt/kernel-checks.json``."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    import platformdirs

    return Path(platformdirs.user_cache_dir("promptopt")) / "kernel-checks.json"


class KernelChecks:
    """The remembered answers for one loaded model (``llm``, a ``llama_cpp.Llama``)."""

    def __init__(self, llm: Any, model_path: str, path: Path | None = None) -> None:
        self.path = path or default_path()
        self._llm, self._model_path = llm, model_path

    @functools.cached_property
    def key(self) -> str:
        """Computed when a check is first asked for: a load that needs none skips the file stats."""
        return _key(self._llm, self._model_path)

    def value(self, name: str, compute: Callable[[], Any]) -> Any:
        """The remembered JSON value of check ``name``, else ``compute()``, remembered."""
        entries = self._read()
        entry = entries.get(self.key, {})
        if name in entry:
            return entry[name]
        value = compute()
        entries = self._read()  # another worker may have written meanwhile: keep its answers
        entries.setdefault(self.key, {})[name] = value
        self._write(entries)
        return value

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("format") != _FORMAT or not isinstance(data.get("models"), dict):
            return {}
        return {key: entry for key, entry in data["models"].items() if isinstance(entry, dict)}

    def _write(self, entries: dict[str, dict[str, Any]]) -> None:
        if self.path.exists() and not self.path.is_file():  # /dev/null: remember nothing
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".kernel-checks.", suffix=".tmp")
        except OSError:  # a read-only cache directory: the checks simply run again next time
            return
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({"format": _FORMAT, "models": entries}, out, indent=1, sort_keys=True)
            os.replace(temporary, self.path)
        except OSError:
            Path(temporary).unlink(missing_ok=True)


def _key(llm: Any, model_path: str) -> str:
    """A digest of everything the checks' answers depend on."""
    import llama_cpp

    model = Path(model_path).resolve()
    library = getattr(getattr(llama_cpp.llama_cpp, "_lib", None), "_name", None)
    raw = llama_cpp.llama_print_system_info()
    parts = {
        "checks": CHECKS_VERSION,
        "model": _file_identity(model),
        "llama_cpp": getattr(llama_cpp, "__version__", "?"),
        "library": _file_identity(Path(library)) if library else None,
        "system_info": raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw),
        "cpu": _cpu_identity(),
        "context": _plain_fields(llm.context_params),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


def _file_identity(path: Path) -> list[Any]:
    try:
        stat = path.stat()
    except OSError:
        return [str(path), None, None]
    return [str(path), stat.st_size, stat.st_mtime_ns]


def _cpu_identity() -> str:
    """The processor's name and feature flags (a cache directory can be shared between hosts)."""
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return f"{platform.machine()} {platform.processor()}"
    wanted = ("model name", "flags", "Features", "CPU part")
    seen = {name: line for line in lines if (name := line.split(":", 1)[0].strip()) in wanted}
    return f"{platform.machine()} " + " | ".join(seen[name] for name in wanted if name in seen)


def _plain_fields(params: Any) -> dict[str, Any]:
    """The number and flag fields of a ctypes struct (threads, batch sizes, KV types, attention)."""
    plain = (ctypes.c_int, ctypes.c_uint, ctypes.c_float, ctypes.c_bool, ctypes.c_ulong, ctypes.c_long)
    return {name: getattr(params, name) for name, kind in params._fields_ if issubclass(kind, plain)}
