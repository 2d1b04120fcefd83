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

from promptopt._lazy import exported_names, lazy_exports

_WHERE = {
    "promptopt.operators.evoprompt": (
        "DE_TEMPLATE", "GA_TEMPLATE", "de_meta_prompt", "evolve_de", "evolve_ga", "ga_meta_prompt", "roulette_pick",
    ),
    "promptopt.operators.fewshot": (
        "FEWSHOT_EDITS", "FewShotEdit", "answers_match", "apply_fewshot_edit", "bare_answer", "build_fewshots",
        "plan_fewshot_edits", "sample_fewshot_examples",
    ),
    "promptopt.operators.initial": (
        "FILL_TEMPLATES", "INITIAL_ANGLES", "INITIAL_TEMPLATE", "fill_instructions", "initial_instructions",
        "initial_meta_prompt",
    ),
    "promptopt.operators.meta": (
        "MetaResult", "Offspring", "extract_tagged", "is_echo", "meta_generate", "template_sentences",
    ),
    "promptopt.operators.mutation": ("MUTATION_TEMPLATE", "mutate", "mutate_detailed", "mutation_meta_prompt"),
    "promptopt.operators.opro": ("OPRO_TEMPLATE", "opro_meta_prompt", "propose_instructions"),
    "promptopt.operators.recombination": (
        "CROSSOVER_TEMPLATE", "child_examples", "crossover", "crossover_detailed", "crossover_meta_prompt",
    ),
    "promptopt.operators.rubric": (
        "ANALYSIS_TEMPLATE", "GradedOutput", "MERGE_TEMPLATE", "META_JUDGE_SYSTEM", "MergeResult",
        "REFINE_TEMPLATE", "RubricProposal", "analyze_and_refine", "merge_rubrics",
    ),
}

__all__ = exported_names(_WHERE)
__getattr__ = lazy_exports(__name__, _WHERE)
