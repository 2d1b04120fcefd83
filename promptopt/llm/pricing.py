"""USD prices per token from litellm's bundled price table, read as JSON.

Reading the JSON file that ships inside the litellm package is instant and needs no network;
importing litellm would take seconds and (without LITELLM_LOCAL_MODEL_COST_MAP) fetch the table.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from promptopt.llm.records import Usage

_TABLE_FILE = "model_prices_and_context_window_backup.json"


@dataclass(frozen=True)
class Price:
    """USD per prompt token and per completion token."""

    prompt_usd: float
    completion_usd: float

    def cost(self, usage: Usage) -> float:
        return usage.prompt_tokens * self.prompt_usd + usage.completion_tokens * self.completion_usd


@lru_cache(maxsize=1)
def _price_table() -> dict[str, dict]:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(list(spec.submodule_search_locations)[0]) / _TABLE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def lookup_price(model: str) -> Price | None:
    """The price of ``model`` (e.g. 'gpt-4o-mini' or 'anthropic/claude-3-5-haiku-20241022').

    Tries the name as given, then without its provider prefix. None when the table does not know
    the model (self-hosted servers, local models): the ledger then reports no USD figure.
    """
    table = _price_table()
    candidates = [model]
    if "/" in model:
        candidates.append(model.split("/", 1)[1])
    for name in candidates:
        entry = table.get(name)
        if not isinstance(entry, dict):
            continue
        prompt = entry.get("input_cost_per_token")
        completion = entry.get("output_cost_per_token")
        if isinstance(prompt, (int, float)) and isinstance(completion, (int, float)):
            return Price(float(prompt), float(completion))
    return None
