""""initial": the best of the initial instructions, without any search — the floor every
optimizer must beat, under the same data, scoring and artifacts."""

from __future__ import annotations

from dataclasses import dataclass

from promptopt.optimizers.baseline import BaselineConfig, ZeroShotBaseline


@dataclass(frozen=True)
class InitialConfig(BaselineConfig):
    """The initial instructions and how they are scored (see :class:`BaselineConfig`)."""


class InitialOnly(ZeroShotBaseline):
    """Score the μ initial instructions on the full dev set and keep the best."""

    name = "initial"
    config_type = InitialConfig
    config: InitialConfig

    def stop_search(self) -> str | None:
        return "no search: the best of the initial prompts"

    async def step(self) -> int:
        return 0  # never called: stop_search ends the run before the first generation
