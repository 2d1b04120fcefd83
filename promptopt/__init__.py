"""promptopt: prompt and plan optimization for black-box LLMs at a controlled cost."""

from promptopt._version import __version__

__all__ = ["__version__"]
