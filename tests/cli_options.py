"""The options of every ``dalperf`` command, walked from the typer application.

``tests/test_cli_options.py`` compares them with the list recorded in
``tests/data/cli_options.json``, so that adding, removing or renaming an option (or changing
its kind: flag, repeatable, type, default) is done on purpose.  After such a change, record
the new list and commit it with the change::

    python -m tests.cli_options --update

Run without ``--update``, it prints the differences and exits 1 when there are any.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).resolve().parent / "data" / "cli_options.json"


def _param(param: Any) -> dict[str, Any]:
    """What ``--help`` promises of one parameter (click's own view of it, not its help text)."""
    default = param.default
    if callable(default) or (
        default is not None and not isinstance(default, str | int | float | bool | list | tuple)
    ):
        default = repr(default)
    return {
        "kind": param.param_type_name,
        "opts": list(param.opts),
        "secondary_opts": list(param.secondary_opts),
        "type": param.bare_type(),
        "min": getattr(param, "min", None),
        "max": getattr(param, "max", None),
        "flag": bool(getattr(param, "is_flag", False)),
        "multiple": bool(param.multiple),
        "required": bool(param.required),
        "default": list(default) if isinstance(default, tuple) else default,
        "envvar": param.envvar,
        "hidden": bool(getattr(param, "hidden", False)),
    }


def current_options() -> dict[str, dict[str, dict[str, Any]]]:
    """``{"dalperf run": {param name: what it is}}`` for every command and subcommand."""
    import typer.main

    from dalperf.cli.app import app

    found: dict[str, dict[str, dict[str, Any]]] = {}

    def walk(command: Any, path: str) -> None:
        found[path] = {param.name: _param(param) for param in command.params}
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "dalperf")
    return found


def recorded_options() -> dict[str, dict[str, dict[str, Any]]]:
    result: dict[str, dict[str, dict[str, Any]]] = json.loads(RECORDED.read_text(encoding="utf-8"))
    return result


def differences(
    recorded: dict[str, dict[str, dict[str, Any]]], current: dict[str, dict[str, dict[str, Any]]]
) -> list[str]:
    """One line per command or option added, removed or changed."""
    lines = []
    for command in sorted(set(recorded) | set(current)):
        if command not in current:
            lines.append(f"{command}: command removed")
            continue
        if command not in recorded:
            lines.append(f"{command}: command added")
            continue
        before, after = recorded[command], current[command]
        for name in sorted(set(before) | set(after)):
            if name not in after:
                lines.append(f"{command}: option {name} removed")
            elif name not in before:
                lines.append(f"{command}: option {name} added")
            elif before[name] != after[name]:
                changed = sorted(
                    k
                    for k in before[name].keys() | after[name].keys()
                    if before[name].get(k) != after[name].get(k)
                )
                for key in changed:
                    lines.append(
                        f"{command}: option {name} {key}: "
                        f"{before[name].get(key)!r} -> {after[name].get(key)!r}"
                    )
    return lines


def main(argv: list[str]) -> int:
    current = current_options()
    if argv == ["--update"]:
        RECORDED.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"recorded the options of {len(current)} commands in {RECORDED.name}")
        return 0
    if argv:
        print("usage: python -m tests.cli_options [--update]", file=sys.stderr)
        return 2
    lines = differences(recorded_options(), current)
    for line in lines:
        print(line)
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
