"""``python -m harness`` runs the ``dalperf`` command line."""

from harness.cli import main

main()
