"""Each optimizer's config for a benchmark: its own defaults, with the shared settings applied.

The downstream sampling is the same for every optimizer (the paper setup: temperature 0.1,
top_p 0.9), so test scores differ by prompt only; the meta-LLM keeps each optimizer's own
sampling apart from its token cap.
"""

from __future__ import annotations

from typing import Any

from promptopt.benchmark.plan import BenchSettings
from promptopt.llm.records import Sampling

#: Downstream sampling of every cell and of test scoring (spec §8), unless --max-tokens caps it.
DOWNSTREAM = Sampling(temperature=0.1, top_p=0.9, max_tokens=256)


def config_for(optimizer: str, settings: BenchSettings) -> Any:
    """The optimizer's default config with every shared setting it has (the one mapping of
    :meth:`~promptopt.settings.SearchOptions.config_for`), scoring with :data:`DOWNSTREAM`."""
    return settings.config_for(optimizer, downstream=DOWNSTREAM)


def downstream_of(config: Any) -> tuple[Sampling, str]:
    """(sampling, renderer) the optimizer scored prompts with; test scoring uses the same."""
    sampling = getattr(config, "sampling", None) or DOWNSTREAM
    renderer = getattr(config, "renderer", None) or "paper"
    return sampling, renderer
