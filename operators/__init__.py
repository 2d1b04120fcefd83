"""LLM operators on prompt candidates: crossover, mutation, few-shot construction, meta-prompts.

Installed as ``promptopt.operators``; import it only under that name::

    from promptopt.operators import crossover, mutate, build_fewshots

Every operator sends one batch per call (plus at most one retry batch for invalid meta-LLM
answers), takes its randomness from a passed ``random.Random``, and never turns meta-LLM chatter
into an instruction: only validated ``<prompt>`` contents are used, otherwise a fallback.
Meta-prompt texts live next to their operator (``CROSSOVER_TEMPLATE``, ``MUTATION_TEMPLATE``,
``INITIAL_TEMPLATE``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptopt._lazy import lazy_exports

__all__ = [
    "CROSSOVER_TEMPLATE",
    "FEWSHOT_EDITS",
    "FILL_TEMPLATES",
    "FewShotEdit",
    "INITIAL_ANGLES",
    "INITIAL_TEMPLATE",
    "MUTATION_TEMPLATE",
    "MetaResult",
    "Offspring",
    "answers_match",
    "apply_fewshot_edit",
    "bare_answer",
    "build_fewshots",
    "child_examples",
    "crossover",
    "crossover_detailed",
    "crossover_meta_prompt",
    "extract_tagged",
    "fill_instructions",
    "initial_instructions",
    "initial_meta_prompt",
    "is_echo",
    "meta_generate",
    "mutate",
    "mutate_detailed",
    "mutation_meta_prompt",
    "plan_fewshot_edits",
    "sample_fewshot_examples",
    "template_sentences",
]

_META = "promptopt.operators.meta"
_CROSSOVER = "promptopt.operators.recombination"
_MUTATION = "promptopt.operators.mutation"
_INITIAL = "promptopt.operators.initial"
_FEWSHOT = "promptopt.operators.fewshot"

_WHERE = {
    "MetaResult": _META,
    "Offspring": _META,
    "extract_tagged": _META,
    "is_echo": _META,
    "meta_generate": _META,
    "template_sentences": _META,
    "CROSSOVER_TEMPLATE": _CROSSOVER,
    "child_examples": _CROSSOVER,
    "crossover": _CROSSOVER,
    "crossover_detailed": _CROSSOVER,
    "crossover_meta_prompt": _CROSSOVER,
    "MUTATION_TEMPLATE": _MUTATION,
    "mutate": _MUTATION,
    "mutate_detailed": _MUTATION,
    "mutation_meta_prompt": _MUTATION,
    "FILL_TEMPLATES": _INITIAL,
    "INITIAL_ANGLES": _INITIAL,
    "INITIAL_TEMPLATE": _INITIAL,
    "fill_instructions": _INITIAL,
    "initial_instructions": _INITIAL,
    "initial_meta_prompt": _INITIAL,
    "FEWSHOT_EDITS": _FEWSHOT,
    "FewShotEdit": _FEWSHOT,
    "answers_match": _FEWSHOT,
    "apply_fewshot_edit": _FEWSHOT,
    "bare_answer": _FEWSHOT,
    "build_fewshots": _FEWSHOT,
    "plan_fewshot_edits": _FEWSHOT,
    "sample_fewshot_examples": _FEWSHOT,
}

if TYPE_CHECKING:
    from promptopt.operators.recombination import (
        CROSSOVER_TEMPLATE,
        child_examples,
        crossover,
        crossover_detailed,
        crossover_meta_prompt,
    )
    from promptopt.operators.fewshot import (
        FEWSHOT_EDITS,
        FewShotEdit,
        answers_match,
        apply_fewshot_edit,
        bare_answer,
        build_fewshots,
        plan_fewshot_edits,
        sample_fewshot_examples,
    )
    from promptopt.operators.initial import (
        FILL_TEMPLATES,
        INITIAL_ANGLES,
        INITIAL_TEMPLATE,
        fill_instructions,
        initial_instructions,
        initial_meta_prompt,
    )
    from promptopt.operators.meta import (
        MetaResult,
        Offspring,
        extract_tagged,
        is_echo,
        meta_generate,
        template_sentences,
    )
    from promptopt.operators.mutation import (
        MUTATION_TEMPLATE,
        mutate,
        mutate_detailed,
        mutation_meta_prompt,
    )


__getattr__ = lazy_exports(__name__, _WHERE)
