"""Optimizers: each drives operators (and racing) through the LLM layer under a budget.

``base`` holds what every optimizer shares (:class:`base.Optimizer` runs the loop; a subclass
implements ``initialize`` and ``step``): journal, budget guard, candidate registry, scoring,
artifacts and summary. ``capo`` is CAPO (cost-aware evolutionary search with racing and a length
penalty); the baselines are ``opro`` (OPRO), ``evoprompt`` (EvoPrompt GA and DE) and ``initial``
(the best initial prompt, no search), sharing ``baseline``; ``mpo`` searches against an LLM
judge whose rubric evolves during the run. The Pareto front of (dev score,
prompt tokens) is computed in ``pareto``. Pick one by name with
``promptopt.optimization.optimizer_class``. The rubric meta step (``rubric_step``, and
``rubric_from_outputs`` for ``promptopt rubric refine``) drives the rubric operators and judging's
gate, so it lives here, above both.
"""

from __future__ import annotations

from promptopt._lazy import exported_names, lazy_exports

_WHERE = {
    "promptopt.optimizers.rubric_from_outputs": ("refine_from_outputs",),
    "promptopt.optimizers.rubric_step": (
        "JudgedOutput", "MetaStepResult", "RefineConfig", "RubricRefiner", "sample_for_analysis",
    ),
}

__all__ = exported_names(_WHERE)
__getattr__ = lazy_exports(__name__, _WHERE)
