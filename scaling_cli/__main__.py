"""``python -m scaling_cli``: the same as the ``scaling`` command."""

from scaling_cli.cli import main

main()
