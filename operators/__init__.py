"""LLM operators on prompt candidates (crossover, mutation, few-shot construction, meta-prompts)
and on judge rubrics (analysis, refinement, merge).

Installed as ``promptopt.operators``; import it only under that name::

    from promptopt.operators import crossover, mutate, build_fewshots

Every operator sends one batch per call (plus at most one retry batch for invalid meta-LLM
answers), takes its randomness from a passed ``random.Random``, and never turns meta-LLM chatter
into an instruction: only validated ``<prompt>`` contents are used, otherwise a fallback.
Meta-prompt texts live next to their operator (``CROSSOVER_TEMPLATE``, ``MUTATION_TEMPLATE``,
``INITIAL_TEMPLATE``; the baselines' ``OPRO_TEMPLATE``, ``GA_TEMPLATE``, ``DE_TEMPLATE``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptopt._lazy import lazy_exports

__all__ = [
    "ANALYSIS_TEMPLATE",
    "GradedOutput",
    "MERGE_TEMPLATE",
    "META_JUDGE_SYSTEM",
    "MergeResult",
    "REFINE_TEMPLATE",
    "RubricProposal",
    "analyze_and_refine",
    "merge_rubrics",
    "CROSSOVER_TEMPLATE",
    "DE_TEMPLATE",
    "FEWSHOT_EDITS",
    "FILL_TEMPLATES",
    "FewShotEdit",
    "GA_TEMPLATE",
    "INITIAL_ANGLES",
    "INITIAL_TEMPLATE",
    "MUTATION_TEMPLATE",
    "MetaResult",
    "OPRO_TEMPLATE",
    "Offspring",
    "answers_match",
    "apply_fewshot_edit",
    "bare_answer",
    "build_fewshots",
    "child_examples",
    "crossover",
    "crossover_detailed",
    "crossover_meta_prompt",
    "de_meta_prompt",
    "evolve_de",
    "evolve_ga",
    "extract_tagged",
    "fill_instructions",
    "ga_meta_prompt",
    "initial_instructions",
    "initial_meta_prompt",
    "is_echo",
    "meta_generate",
    "mutate",
    "mutate_detailed",
    "mutation_meta_prompt",
    "opro_meta_prompt",
    "plan_fewshot_edits",
    "propose_instructions",
    "roulette_pick",
    "sample_fewshot_examples",
    "template_sentences",
]

_META = "promptopt.operators.meta"
_CROSSOVER = "promptopt.operators.recombination"
_MUTATION = "promptopt.operators.mutation"
_INITIAL = "promptopt.operators.initial"
_FEWSHOT = "promptopt.operators.fewshot"
_OPRO = "promptopt.operators.opro"
_EVOPROMPT = "promptopt.operators.evoprompt"
_RUBRIC = "promptopt.operators.rubric"

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
    "OPRO_TEMPLATE": _OPRO,
    "opro_meta_prompt": _OPRO,
    "propose_instructions": _OPRO,
    "DE_TEMPLATE": _EVOPROMPT,
    "GA_TEMPLATE": _EVOPROMPT,
    "de_meta_prompt": _EVOPROMPT,
    "evolve_de": _EVOPROMPT,
    "evolve_ga": _EVOPROMPT,
    "ga_meta_prompt": _EVOPROMPT,
    "roulette_pick": _EVOPROMPT,
    "ANALYSIS_TEMPLATE": _RUBRIC,
    "GradedOutput": _RUBRIC,
    "MERGE_TEMPLATE": _RUBRIC,
    "META_JUDGE_SYSTEM": _RUBRIC,
    "MergeResult": _RUBRIC,
    "REFINE_TEMPLATE": _RUBRIC,
    "RubricProposal": _RUBRIC,
    "analyze_and_refine": _RUBRIC,
    "merge_rubrics": _RUBRIC,
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
    from promptopt.operators.rubric import (
        ANALYSIS_TEMPLATE,
        MERGE_TEMPLATE,
        META_JUDGE_SYSTEM,
        REFINE_TEMPLATE,
        GradedOutput,
        MergeResult,
        RubricProposal,
        analyze_and_refine,
        merge_rubrics,
    )
    from promptopt.operators.mutation import (
        MUTATION_TEMPLATE,
        mutate,
        mutate_detailed,
        mutation_meta_prompt,
    )
    from promptopt.operators.opro import OPRO_TEMPLATE, opro_meta_prompt, propose_instructions
    from promptopt.operators.evoprompt import (
        DE_TEMPLATE,
        GA_TEMPLATE,
        de_meta_prompt,
        evolve_de,
        evolve_ga,
        ga_meta_prompt,
        roulette_pick,
    )


__getattr__ = lazy_exports(__name__, _WHERE)
