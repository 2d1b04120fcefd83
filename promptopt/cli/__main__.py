"""``python -m promptopt.cli``: the same as the ``promptopt`` command."""

from promptopt.cli import main

main()
