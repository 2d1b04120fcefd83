"""Racing: evaluation blocks, paired tests and elimination. Knows nothing of LLMs.

Installed as ``promptopt.racing``; import it only under that name.
"""
