"""LLM operators on prompt candidates: crossover, mutation, few-shot construction, meta-prompts.

Installed as ``promptopt.operators``; import it only under that name.
"""
