"""Every command's options are the recorded ones: a change to the command line is made on purpose.

The list is click's own command tree (``typer.main.get_command``), not the help text; after
adding, removing or renaming an option, record it with ``python -m tests.cli_options --update``
and commit ``tests/data/cli_options.json`` with the change.
"""

from __future__ import annotations

import copy

from tests.cli_options import current_options, differences, recorded_options


def test_every_command_lists_the_recorded_options() -> None:
    lines = differences(recorded_options(), current_options())
    assert not lines, (
        "the command line changed; if on purpose, run `python -m tests.cli_options --update`:\n"
        + "\n".join(lines)
    )


def test_a_renamed_option_is_a_difference() -> None:
    """The comparison sees a rename, a removal and a changed default (a broken one would not)."""
    recorded = recorded_options()
    changed = copy.deepcopy(recorded)
    run = changed["dalperf run"]
    run["rtt"] = run.pop("rtt_ms")
    changed["dalperf migrate"]["jobs"]["default"] = 3
    del changed["dalperf db start"]["home"]
    lines = differences(recorded, changed)
    assert "dalperf run: option rtt_ms removed" in lines
    assert "dalperf run: option rtt added" in lines
    assert "dalperf migrate: option jobs default: 2 -> 3" in lines
    assert "dalperf db start: option home removed" in lines
    assert len(lines) == 4
