"""Task definitions, registry, loaders, answer parsers and metrics.

Installed as ``promptopt.tasks``; import it only under that name.
"""
