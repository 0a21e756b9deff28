"""``python -m dalperf`` runs the ``dalperf`` command line."""

from dalperf.cli import main

main()
