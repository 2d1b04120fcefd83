"""Each optimizer's config for a benchmark: its own defaults, with the shared settings applied.

The downstream sampling is the same for every optimizer (the paper setup: temperature 0.1,
top_p 0.9), so test scores differ by prompt only; the meta-LLM keeps each optimizer's own
sampling apart from its token cap.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from promptopt.benchmark.plan import BenchSettings
from promptopt.llm.records import Sampling

#: Downstream sampling of every cell and of test scoring (spec §8), unless --max-tokens caps it.
DOWNSTREAM = Sampling(temperature=0.1, top_p=0.9, max_tokens=256)

#: Settings that some optimizers call by another name: OPRO's proposals per step are its offspring.
ALIASES = {"offspring": {"opro": "proposals"}}


def available_optimizers() -> tuple[str, ...]:
    from promptopt.optimization import OPTIMIZERS

    return tuple(OPTIMIZERS)


def config_class(optimizer: str) -> type:
    """The config dataclass that ``aoptimize(optimizer=...)`` expects."""
    from promptopt.optimization import config_class as registered

    return registered(optimizer)


def config_for(optimizer: str, settings: BenchSettings) -> Any:
    """The optimizer's default config with every shared setting it has a field for."""
    cls = config_class(optimizer)
    base = cls()
    fields = {f.name for f in dataclasses.fields(cls)}
    changes: dict[str, Any] = {}
    for name in ("population", "offspring", "dev_size", "block_size", "max_shots", "renderer"):
        value = getattr(settings, name)
        target = ALIASES.get(name, {}).get(optimizer, name)
        if value is not None and target in fields:
            changes[target] = value
    if "sampling" in fields:
        changes["sampling"] = dataclasses.replace(DOWNSTREAM, max_tokens=settings.max_tokens or DOWNSTREAM.max_tokens)
    if "meta_sampling" in fields and settings.meta_max_tokens is not None:
        changes["meta_sampling"] = dataclasses.replace(base.meta_sampling, max_tokens=settings.meta_max_tokens)
    return dataclasses.replace(base, **changes)


def downstream_of(config: Any) -> tuple[Sampling, str]:
    """(sampling, renderer) the optimizer scored prompts with; test scoring uses the same."""
    sampling = getattr(config, "sampling", None) or DOWNSTREAM
    renderer = getattr(config, "renderer", None) or "paper"
    return sampling, renderer
