"""What an optimization run is built from, as records: the model of each role, the search options
users set, and the run settings around them.

``promptopt.optimize``/``aoptimize``, ``promptopt optimize`` and ``promptopt bench`` all build an
:class:`OptimizeSettings` (bench: one per cell), and options reach an optimizer's config through
one mapping, :meth:`SearchOptions.config_for`, with one rule: an option is applied to every
optimizer that has it, and an option that applies to none of the optimizers it is given to is an
error naming its flag (:meth:`SearchOptions.check_applies`), never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from promptopt import records
from promptopt.optimizers.registry import config_class

if TYPE_CHECKING:
    from promptopt.budget import Budget
    from promptopt.llm.records import Sampling

__all__ = ["ModelRoles", "OptimizeSettings", "SearchOptions"]

#: The judge roles' flags (MPO's), in the order they are reported.
JUDGE_FLAGS = {"judge_model": "--judge-model", "meta_judge_model": "--meta-judge-model",
               "heldout_judge_model": "--heldout-judge-model"}


@dataclass(frozen=True)
class ModelRoles:
    """The model spec of each role. ``meta_model`` defaults to ``model``; the judges (MPO's) to
    ``model``, the meta-judge to the meta model; no held-out judge means the task's frozen rubric."""

    model: str = "local"
    meta_model: str | None = None
    judge_model: str | None = None
    meta_judge_model: str | None = None
    heldout_judge_model: str | None = None

    def judge_flags_given(self) -> list[str]:
        """The judge flags set, e.g. ``["--judge-model"]`` (they apply to judge-scored runs only)."""
        return [flag for name, flag in JUDGE_FLAGS.items() if getattr(self, name) is not None]

    def specs(self, judged: bool) -> dict[str, str]:
        """Role -> spec for a run; the judge roles only when the optimizer has them."""
        specs = {"downstream": self.model, "meta": self.meta_model or self.model}
        if judged:
            specs["judge"] = self.judge_model or self.model
            specs["meta_judge"] = self.meta_judge_model or specs["meta"]
            if self.heldout_judge_model:
                specs["heldout_judge"] = self.heldout_judge_model
        return specs


#: Options only some optimizers have, and the config field each sets there. Every other option
#: sets the config field of its own name, where the optimizer's config has one.
_ONLY_SOME: Mapping[str, Mapping[str, str]] = {
    "offspring": {"capo": "offspring", "evoprompt-ga": "offspring", "opro": "proposals"},
    "max_blocks": {"capo": "max_blocks"},
    "max_shots": {"capo": "max_shots"},
    "paper_compat": {"capo": "paper_compat"},
}
#: Options that cap a sampling's completion tokens instead of setting a field.
_TOKEN_CAPS = {"max_tokens": "sampling", "meta_max_tokens": "meta_sampling"}
#: Optimizers that search with another one's config (MPO runs CAPO against its judge).
_SEARCHES_WITH = {"mpo": "capo"}


@dataclass(frozen=True)
class SearchOptions(records.Record):
    """Search sizes and caps a user sets across optimizers; None (False) keeps each default.

    ``offspring`` is the new candidates per generation: CAPO's c, EvoPrompt-GA's children,
    OPRO's proposals. ``max_blocks``, ``max_shots`` and ``paper_compat`` are CAPO's; the rest
    (population, dev and block sizes, renderer, downstream and meta completion caps) every
    optimizer has.
    """

    population: int | None = None
    offspring: int | None = None
    dev_size: int | None = None
    block_size: int | None = None
    max_shots: int | None = None
    max_tokens: int | None = None
    meta_max_tokens: int | None = None
    renderer: str | None = None
    max_blocks: int | None = None
    paper_compat: bool = False
    #: The front's objectives, comma-separated (see :mod:`promptopt.optimizers.pareto`).
    objectives: str | None = None

    def given(self) -> dict[str, Any]:
        """The options the user set: not None, and not the flag ``paper_compat`` left off (by
        identity: ``max_shots=0``, zero-shot, is a setting)."""
        return {f.name: value for f in fields(SearchOptions)
                if (value := getattr(self, f.name)) is not None and value is not False}

    @staticmethod
    def _field(option: str, optimizer: str) -> str | None:
        """The config field ``option`` sets on ``optimizer``, or None where it does not apply."""
        optimizer = _SEARCHES_WITH.get(optimizer, optimizer)
        if option in _TOKEN_CAPS:
            option = _TOKEN_CAPS[option]
        elif option in _ONLY_SOME:
            return _ONLY_SOME[option].get(optimizer)
        return option if option in {f.name for f in fields(config_class(optimizer))} else None

    def check_applies(self, optimizers: Sequence[str]) -> None:
        """Raise ValueError naming the flag of an option none of ``optimizers`` has."""
        for option in self.given():
            if not any(self._field(option, name) for name in optimizers):
                users = ", ".join(_ONLY_SOME.get(option, {})) or "no optimizer"
                which = ", ".join(f"'{name}'" for name in optimizers)
                plural = "s" if len(optimizers) > 1 else ""
                raise ValueError(f"--{option.replace('_', '-')} does not apply to optimizer{plural} {which} "
                                 f"(only to {users})")

    def config_for(self, optimizer: str, *, downstream: Sampling | None = None) -> Any:
        """``optimizer``'s default config with every option it has applied; ``downstream``, when
        given, replaces its downstream sampling (the benchmark scores every optimizer alike)."""
        if optimizer in _SEARCHES_WITH:
            return config_class(optimizer)(search=self.config_for(_SEARCHES_WITH[optimizer], downstream=downstream))
        base = config_class(optimizer)()
        changes: dict[str, Any] = {}
        if downstream is not None:
            changes["sampling"] = downstream
        for option, value in self.given().items():
            target = self._field(option, optimizer)
            if target is None:
                continue
            if option in _TOKEN_CAPS:
                value = replace(changes.get(target, getattr(base, target)), max_tokens=value)
            changes[target] = value
        try:
            return replace(base, **changes)
        except ValueError as exc:
            raise ValueError(f"optimizer '{optimizer}': {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """JSON form; ``max_blocks``, ``paper_compat`` and ``objectives`` appear only when set, so
        records written before they were options read the same."""
        data = super().to_dict()
        for name in ("max_blocks", "paper_compat", "objectives"):
            if data[name] is None or data[name] is False:
                del data[name]
        return data


@dataclass(frozen=True)
class OptimizeSettings:
    """One optimization run: models per role, the optimizer and its config, budget, seed, initial
    prompts, run directory and output artifact. ``config`` None: the optimizer's defaults;
    ``budget`` a :class:`~promptopt.budget.Budget` or a token count (see ``aoptimize``)."""

    models: ModelRoles = ModelRoles()
    optimizer: str = "capo"
    config: Any = None
    budget: Budget | int | None = None
    seed: int = 42
    initial_prompts: tuple[str, ...] = ()
    run_dir: Path | None = None
    resume: bool = False
    out: Path | None = None
    #: Run even when the preflight estimate says the budget cannot pay for one generation.
    force: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "initial_prompts", tuple(self.initial_prompts))
        for name in ("run_dir", "out"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))

    @classmethod
    def from_options(cls, **options: Any) -> OptimizeSettings:
        """From ``aoptimize``'s keywords: the role models (``model``, ``meta_model``, the judges)
        and this record's other fields."""
        roles = {f.name: options.pop(f.name) for f in fields(ModelRoles) if f.name in options}
        return cls(models=ModelRoles(**roles), **options)
