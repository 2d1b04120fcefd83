"""Optimizers: each drives operators and racing through the LLM layer under a budget.

``capo`` is CAPO (cost-aware evolutionary search with racing and a length penalty); the Pareto
front of (dev score, prompt tokens) is computed in ``pareto``.
"""
